"""An unexpected failure says only "Unexpected error." and a request id; the trace is logged."""

from __future__ import annotations

import logging

import httpx
from graphql import GraphQLError
from pydantic import SecretStr

from app.asgi import create_app
from app.settings import Settings
from resolvers.errors import NotFound
from schema.errors import UNEXPECTED, classify
from tests.support.graphql import mint_token
from tests.support.server import ServerThread, free_port


def located(original: Exception) -> GraphQLError:
    return GraphQLError(str(original), path=["conversation"], original_error=original)


def test_unexpected_errors_are_masked_and_logged(caplog) -> None:  # type: ignore[no-untyped-def]
    error = located(RuntimeError("password=hunter2 at db.internal:5432"))
    with caplog.at_level(logging.ERROR, logger="reactor.graphql"):
        classify(error, None)
    assert error.message == UNEXPECTED
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": None}
    assert "hunter2" not in str(error.formatted)
    assert any(r.exc_info for r in caplog.records)


def test_app_errors_keep_their_code_and_message() -> None:
    error = located(NotFound("No such conversation."))
    classify(error, None)
    assert error.message == "No such conversation."
    assert error.extensions == {"code": "NOT_FOUND"}


async def test_a_failing_database_reaches_the_client_masked(settings: Settings) -> None:
    """End to end: the resolver's connection fails; the client sees no address, no driver
    text, only the code and the request id it can quote."""
    port = free_port()
    nowhere = f"postgresql://root@127.0.0.1:{port}/reactor"
    database = settings.database.model_copy(update={"url": SecretStr(nowhere)})
    with ServerThread(create_app(settings.model_copy(update={"database": database}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url) as client:
            response = await client.post(
                "/graphql",
                json={"query": "{ conversations { edges { node { id } } } }"},
                headers={
                    "Authorization": f"Bearer {mint_token()}",
                    "x-request-id": "maskedrequest01",
                },
            )
    (error,) = response.json()["errors"]
    assert error["message"] == UNEXPECTED
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "maskedrequest01"}
    assert str(port) not in response.text
