"""What a resolver is handed: the process's services and the caller's identity.

The same object is the GraphQL context (`info.context`) and the context of the plain HTTP
surfaces, so every path to the data asks the same questions the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.session import Transaction, rls_transaction
from resolvers.auth.tokens import TokenVerifier, bearer_token
from resolvers.chat.checkpoints import Checkpoints
from resolvers.chat.live import TurnHub
from resolvers.chat.registry import TurnRegistry
from resolvers.errors import AppError, Unauthenticated

if TYPE_CHECKING:
    from gateway.router import Gateway
    from resolvers.auth.passwords import Passwords
    from resolvers.auth.settings import AuthSettings
    from resolvers.chat.relay import TurnRelay
    from resolvers.chat.settings import ChatSettings


@dataclass
class Services:
    """The resolvers' collaborators and their own settings sections, created once in the
    app's lifespan."""

    engine: AsyncEngine
    tokens: TokenVerifier
    gateway: Gateway
    passwords: Passwords
    auth: AuthSettings
    chat: ChatSettings

    # Chat turns in flight: graceful shutdown waits for them, then cancels the rest.
    turns: TurnRegistry = field(default_factory=TurnRegistry)
    # The same turns by reply id, with whoever follows them, for rejoining and stopping.
    hub: TurnHub = field(default_factory=TurnHub)
    # This process among the others sharing the database: its turns carry it, and its
    # heartbeat keeps them from being taken for a dead process's.
    process_id: uuid.UUID = field(default_factory=uuid.uuid4)
    # Turns and conversation events across processes; set once the broker is up.
    relay: TurnRelay | None = None
    # The streaming replies' checkpoints: one statement an interval for all of them.
    checkpoints: Checkpoints = field(init=False)

    def __post_init__(self) -> None:
        self.checkpoints = Checkpoints(self)


@dataclass
class RequestContext:
    services: Services
    request_id: str = field(default_factory=lambda: RequestContext.new_id())
    claims: dict[str, Any] | None = None
    # A token was presented but refused: kept so that fields needing a user say why.
    token_error: AppError | None = None
    client_ip: str | None = None
    # Filled by Strawberry from a WebSocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    loaders: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    async def authenticate(self, authorization: str | None) -> None:
        """Take the identity from an Authorization header value; remember a refusal.

        Async because a token of an outside identity provider may need its keys fetched.
        """
        self.claims, self.token_error = None, None
        try:
            token = bearer_token(authorization)
            if token is not None:
                self.claims = await self.services.tokens.verify_any(token)
        except AppError as exc:
            self.token_error = exc

    def user_id(self) -> uuid.UUID:
        if self.claims is None:
            raise self.token_error or Unauthenticated("Sign in first: no access token was sent.")
        # A WebSocket outlives its token: every operation checks the expiry again.
        if float(self.claims["exp"]) <= time.time():
            raise Unauthenticated("The access token has expired.")
        return uuid.UUID(str(self.claims["sub"]))

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncConnection]:
        """A transaction as the caller (anon without a token), under row-level security."""
        async with rls_transaction(self.services.engine, self.claims) as conn:
            yield conn

    def transaction(self) -> Transaction:
        """The same transaction as `db()`, not yet started: for a caller that ends it elsewhere
        than where it began (`start()`, then `commit()` or `rollback()`)."""
        return rls_transaction(self.services.engine, self.claims)
