"""Two trees in one run: a benchmark that compares this tree with an earlier commit checks
that commit out beside it and serves each on a database its own migrations made."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.chat_bench import UVICORN_OPTIONS
from tests.support.graphql import SECRET
from tests.support.server import free_port

_MIGRATE = (
    "import os; from app.migrations import upgrade; upgrade(os.environ['REACTOR_DATABASE__URL'])"
)


@contextmanager
def checkout(root: Path, commit: str, where: Path) -> Iterator[Path]:
    """`commit` checked out at `where` (a git worktree), removed afterwards."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), commit], cwd=root, check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=root, check=False)


def serve(tree: Path, config: Path, database: str) -> tuple[subprocess.Popen[bytes], int]:
    """One uvicorn worker of `tree`'s app on a free port, after `tree`'s own migrations."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "REACTOR_CONFIG": str(config),
        "REACTOR_DATABASE__URL": database,
        "REACTOR_AUTH__JWT_SECRET": SECRET,
    }
    subprocess.run([sys.executable, "-c", _MIGRATE], cwd=tree, env=env, check=True)
    port = free_port()
    command = [
        *(sys.executable, "-m", "uvicorn", "app.asgi:app_from_environment", "--factory"),
        *("--port", str(port), "--ws", "app.graceful_ws:GracefulWebSockets", *UVICORN_OPTIONS),
    ]
    return subprocess.Popen(command, cwd=tree, env=env), port
