"""A locked-down configuration, key by key and as a whole: `[server] environment =
"production"` turns GraphiQL, introspection and field suggestions off whatever their keys
say and will not start without a configured JWT secret; `metrics_token` guards /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.settings import ConfigError, ServerSettings, Settings, load_settings
from tests.ops.serving import checkout_path, serve
from tests.support.graphql import codes, gql
from tests.support.server import ServerThread

METRICS_TOKEN = "metrics-token-for-the-scraper"


@pytest.fixture(scope="module")
async def locked_down(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    server = settings.server.model_copy(
        update={"introspection": False, "graphiql": False, "max_query_depth": 3}
    )
    with ServerThread(create_app(settings.model_copy(update={"server": server}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url) as client:
            yield client


@pytest.fixture(scope="module")
async def production(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # The keys ask for GraphiQL and introspection; production overrides them.
    server = ServerSettings.model_validate(
        {
            **settings.server.model_dump(),
            "environment": "production",
            "graphiql": True,
            "introspection": True,
            "metrics_token": METRICS_TOKEN,
        }
    )
    with ServerThread(create_app(settings.model_copy(update={"server": server}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url) as client:
            yield client


async def test_introspection_can_be_switched_off(locked_down: httpx.AsyncClient) -> None:
    body = await gql(locked_down, "{ __schema { queryType { name } } }")
    assert codes(body)
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert body.get("data") is None


async def test_graphiql_can_be_switched_off(locked_down: httpx.AsyncClient) -> None:
    response = await locked_down.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower()


async def test_too_deep_a_query_is_refused(locked_down: httpx.AsyncClient) -> None:
    query = "{ conversations { edges { node { messages { edges { node { id } } } } } } }"
    body = await gql(locked_down, query)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "depth" in body["errors"][0]["message"]


async def test_production_answers_no_introspection(production: httpx.AsyncClient) -> None:
    for query in ("{ __schema { queryType { name } } }", '{ __type(name: "Query") { name } }'):
        body = await gql(production, query)
        assert codes(body)
        assert set(codes(body)) == {"BAD_USER_INPUT"}
        assert body.get("data") is None


async def test_production_serves_no_graphiql(production: httpx.AsyncClient) -> None:
    response = await production.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


@pytest.mark.parametrize("asset", ["/graphiql/graphiql.js", "/graphiql/vendor/graphiql.min.js"])
async def test_production_serves_no_graphiql_assets(
    production: httpx.AsyncClient, asset: str
) -> None:
    assert (await production.get(asset)).status_code == 404


async def test_production_suggests_no_fields(production: httpx.AsyncClient) -> None:
    body = await gql(production, "{ conversatons { edges { node { id } } } }")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert all("Did you mean" not in e["message"] for e in body["errors"])


async def test_production_still_answers_queries(production: httpx.AsyncClient) -> None:
    assert await gql(production, "{ __typename }") == {"data": {"__typename": "Query"}}


async def test_metrics_want_the_token_when_one_is_set(production: httpx.AsyncClient) -> None:
    assert (await production.get("/metrics")).status_code == 401
    wrong = {"authorization": "Bearer not-the-token"}
    assert (await production.get("/metrics", headers=wrong)).status_code == 401
    basic = {"authorization": f"Basic {METRICS_TOKEN}"}
    assert (await production.get("/metrics", headers=basic)).status_code == 401
    right = {"authorization": f"Bearer {METRICS_TOKEN}"}
    response = await production.get("/metrics", headers=right)
    assert response.status_code == 200
    assert "reactor_graphql_requests_total" in response.text


async def test_metrics_want_no_token_when_none_is_set(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Reactor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_production_will_not_generate_a_jwt_secret(tmp_path: Path) -> None:
    config = _config(
        tmp_path, f'[server]\nenvironment = "production"\ndata_dir = "{tmp_path / "data"}"\n'
    )
    with pytest.raises(ConfigError, match=r"^auth\.jwt_secret: .*production"):
        load_settings(config)
    assert not (tmp_path / "data" / "jwt_secret").exists()


def test_production_overrides_the_individual_keys(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '[server]\nenvironment = "production"\ngraphiql = true\nintrospection = true\n'
        f'[auth]\njwt_secret = "{"s" * 40}"\n',
    )
    server = load_settings(config).server
    assert (server.environment, server.graphiql, server.introspection) == (
        "production",
        False,
        False,
    )


def test_serve_refuses_production_without_a_jwt_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(
        PYTHONPATH=checkout_path(env),
        REACTOR_SERVER__ENVIRONMENT="production",
        REACTOR_SERVER__DATA_DIR=str(tmp_path / "data"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("reactor-chat: configuration error: auth.jwt_secret: ")


@pytest.mark.parametrize("environment", ["development", "production"])
async def test_serve_says_which_mode_it_runs_in(
    tmp_path: Path, database_url: str, environment: str
) -> None:
    async with serve(tmp_path, database_url, SERVER__ENVIRONMENT=environment) as served:
        said = [line.split() for line in served.stdout]
        assert any(words[:2] == ["mode", environment] for words in said), served.stdout
        async with httpx.AsyncClient(base_url=served.url) as client:
            page = await client.get("/graphql", headers={"accept": "text/html"})
            assert ("graphiql" in page.text.lower()) == (environment == "development")
