"""`make serve` on a machine with nothing configured: `reactor-chat serve` in an empty
directory starts an embedded PostgreSQL under data_dir, migrates, answers GraphiQL and the
page, and a first chat works offline through `local/echo`. The data survives a restart. The
embedded server's own output goes to data_dir/postgres.log, not the log; the banner names it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.ops.serving import checkout_path
from tests.support.graphql import gql
from tests.support.server import free_port

STARTUP_SECONDS = 120  # initdb on a cold machine


async def _serve(directory: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The process (its stdout and stderr appended to `out.txt` and `log.txt` there) and URL."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("REACTOR_", "PROMETHEUS_"))}
    environ["PYTHONPATH"] = checkout_path(environ)
    with (directory / "out.txt").open("ab") as out, (directory / "log.txt").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "serve", "--port", str(port),
            cwd=directory, env=environ, stdout=out, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(STARTUP_SECONDS * 10):
            if process.returncode is not None:
                raise RuntimeError(f"serve exited with {process.returncode}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("serve did not become ready")


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


def _postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    return Path(f"/proc/{pid}").exists()


async def test_a_first_chat_works_offline_with_nothing_configured(tmp_path: Path) -> None:
    process, url = await _serve(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (
                "graphiql"
                in (await client.get("/graphql", headers={"accept": "text/html"})).text.lower()
            )
            assert (await client.get("/")).status_code == 200
            signed_up = await gql(
                client,
                'mutation { signUp(email: "first@example.com", password: "offline please") { accessToken } }',
            )
            token = signed_up["data"]["signUp"]["accessToken"]
            made = await gql(
                client, 'mutation { createConversation(title: "first") { id } }', token=token
            )
            conversation = made["data"]["createConversation"]["id"]
            reply = await gql(
                client,
                'mutation($c: UUID!) { sendMessage(conversationId: $c, message: "hello offline") { content } }',
                {"c": conversation},
                token=token,
            )
            assert reply["data"]["sendMessage"]["content"] == "Echo: hello offline"
            models = await gql(client, "{ models { targets } }")
            assert {t for m in models["data"]["models"] for t in m["targets"]} == {"local/echo"}
    finally:
        assert await _stop(process) == 0
    pgdata = tmp_path / ".reactor" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert (tmp_path / ".reactor" / "jwt_secret").exists()
    for _ in range(100):  # the embedded server stops with its last user
        if not _postmaster_running(pgdata):
            break
        await asyncio.sleep(0.1)
    assert not _postmaster_running(pgdata)
    assert "embedded PostgreSQL in .reactor/pgdata" in (tmp_path / "out.txt").read_text()
    assert "initdb" in (tmp_path / ".reactor" / "postgres.log").read_text()
    assert "pgserver" not in (tmp_path / "log.txt").read_text()

    process, url = await _serve(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            signed_in = await gql(
                client,
                'mutation { signIn(email: "first@example.com", password: "offline please") { accessToken } }',
            )
            token = signed_in["data"]["signIn"]["accessToken"]
            listed = await gql(client, "{ conversations { edges { node { id } } } }", token=token)
            assert [e["node"]["id"] for e in listed["data"]["conversations"]["edges"]] == [
                conversation
            ]
    finally:
        await _stop(process)
