"""Every JavaScript recipe in the docs runs as written, by Node, against a live server.

A recipe is a fenced block marked ```js, ```javascript or ```mjs in docs/*.md or README.md.
Each is saved as an ES module in a directory whose `node_modules` is tests/clients', so every
package a recipe imports must be listed in tests/clients/package.json (a recipe importing one
that is not fails, naming it). tests/clients/recipe_context.mjs is loaded first (`--import`):

- **URL and token.** `http://127.0.0.1:8000` and `ws://127.0.0.1:8000` in a recipe stand for
  the server and are replaced by the test server's address; `<accessToken>` is replaced by an
  access token of the signed-in user.
- **Names a recipe may use without defining them**, as the prose around it describes them:
  `CHAT` (the subscription document of docs/api.md, "the turn used in the recipes"),
  `conversationId` (a conversation of the signed-in user), `replyId` (a finished reply in it),
  `accessToken` and `currentAccessToken()` (the user's access token, or the last one handed to
  `keepTokens(tokens)`), `render(text)`, `showError(error)`, and `apollo` (an Apollo Client
  with a `GraphQLWsLink`, as the Apollo recipe of docs/api.md builds). Any other undefined name
  fails the recipe.
- **The user** is `me@example.com` with the password `a long passphrase` (the Apollo recipe
  signs in with them).
- **Imports** resolve as in Node, except that a package directory (`@apollo/client/core`)
  resolves as a bundler resolves it (tests/clients/bundler_resolve.mjs).

A recipe passes when it exits 0 by itself within a minute (a subscription it starts has to
end), writes nothing to stderr and never calls `showError`; one that calls `render` must have
rendered something.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.graphql import gql
from tests.support.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "tests" / "clients"
NODE = shutil.which("node")
NPM = shutil.which("npm")
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
EMAIL, PASSWORD = "me@example.com", "a long passphrase"
SERVER_PLACEHOLDERS = ("http://127.0.0.1:8000", "ws://127.0.0.1:8000")
TOKEN_PLACEHOLDER = "<accessToken>"

_FENCE = re.compile(r"^```(js|javascript|mjs)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_IMPORT = re.compile(r"""^\s*import\s+(?:[^'";]*?\s+from\s+)?["']([^"']+)["']""", re.M)

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@dataclass(frozen=True)
class Recipe:
    where: str  # docs/api.md:37, the line of its opening fence
    source: str


def _recipes() -> list[Recipe]:
    found = []
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Recipe(f"{page.relative_to(ROOT)}:{line}", match.group(2)))
    return found


def _chat_document() -> str:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    match = re.search(r"^```graphql\n(subscription Chat\(.*?)^```", api, re.M | re.S)
    assert match, "docs/api.md no longer shows the `subscription Chat` the recipes use"
    return match.group(1)


def _package(specifier: str) -> str | None:
    """The npm package an import names; None for Node's own modules and relative paths."""
    if specifier.startswith(("node:", ".", "/")):
        return None
    parts = specifier.split("/")
    return "/".join(parts[:2]) if specifier.startswith("@") else parts[0]


def missing_packages(source: str) -> list[str]:
    manifest = json.loads((CLIENTS / "package.json").read_text(encoding="utf-8"))
    listed = set(manifest.get("dependencies", {})) | set(manifest.get("devDependencies", {}))
    wanted = {p for s in _IMPORT.findall(source) if (p := _package(s)) is not None}
    return sorted(wanted - listed)


def test_recipes_are_found() -> None:
    # The fence pattern still matches the docs: an empty list would pass every recipe test.
    assert len(_recipes()) >= 5
    assert missing_packages('import x from "left-pad";\nimport "node:fs";') == ["left-pad"]


@pytest.fixture(scope="module")
async def node_modules() -> Path:
    if not (CLIENTS / "node_modules").is_dir():
        if NPM is None:
            pytest.skip("npm is not installed and tests/clients/node_modules is missing")
        process = await asyncio.create_subprocess_exec(
            NPM, "ci", "--no-audit", "--no-fund", cwd=CLIENTS, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(process.communicate(), timeout=300)
        assert process.returncode == 0, err.decode()
    return CLIENTS / "node_modules"


async def _user_token(http: httpx.AsyncClient) -> str:
    """The recipes' user, signed up by the first recipe to run and signed in after."""
    variables = {"e": EMAIL, "p": PASSWORD}
    up = await gql(
        http,
        "mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { accessToken } }",
        variables,
    )
    if up.get("data"):
        return str(up["data"]["signUp"]["accessToken"])
    assert up["errors"][0]["extensions"]["code"] == "CONFLICT", up
    signed_in = await gql(
        http,
        "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }",
        variables,
    )
    return str(signed_in["data"]["signIn"]["accessToken"])


async def _context(server: ServerThread) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        token = await _user_token(http)
        made = await gql(
            http, 'mutation { createConversation(title: "recipe") { id } }', token=token
        )
        conversation = made["data"]["createConversation"]["id"]
        sent = await gql(
            http,
            'mutation($c: UUID!) { sendMessage(conversationId: $c, message: "before") { id } }',
            {"c": conversation},
            token=token,
        )
    return {
        "accessToken": token,
        "conversationId": conversation,
        "replyId": sent["data"]["sendMessage"]["id"],
        "chat": _chat_document(),
        "wsUrl": server.url.replace("http://", "ws://") + "/graphql",
    }


def _as_written(source: str, server_url: str, token: str) -> str:
    http, ws = SERVER_PLACEHOLDERS
    return (
        source.replace(http, server_url)
        .replace(ws, server_url.replace("http://", "ws://"))
        .replace(TOKEN_PLACEHOLDER, token)
    )


@pytest.mark.parametrize("recipe", _recipes(), ids=lambda r: r.where)
async def test_the_recipe_runs_as_written(
    recipe: Recipe, node_modules: Path, server: ServerThread, tmp_path: Path
) -> None:
    missing = missing_packages(recipe.source)
    assert not missing, (
        f"{recipe.where} imports {', '.join(missing)}: add it to tests/clients/package.json"
        " (npm install --save there)"
    )
    context = await _context(server)
    (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
    script = tmp_path / "recipe.mjs"
    script.write_text(_as_written(recipe.source, server.url, context["accessToken"]), "utf-8")
    report = tmp_path / "report.json"
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        "--import",
        (CLIENTS / "recipe_context.mjs").as_uri(),
        str(script),
        cwd=tmp_path,
        env={**os.environ, "RECIPE_CONTEXT": json.dumps(context), "RECIPE_REPORT": str(report)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{recipe.where} did not finish within a minute")
    assert (process.returncode, err.decode()) == (0, ""), f"{recipe.where}:\n{err.decode()}"
    seen = json.loads(report.read_text(encoding="utf-8"))
    assert seen["errors"] == [], f"{recipe.where} called showError"
    if "render(" in recipe.source:
        assert "".join(seen["rendered"]), f"{recipe.where} rendered nothing:\n{out.decode()}"
