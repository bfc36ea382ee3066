from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.auth.flows import client_from
from tests.support.server import ServerThread


@pytest.fixture
async def own_client(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a loopback address of its own: its failed sign-ins limit no one else."""
    async with client_from(server.url) as http:
        yield http
