"""Auth's root fields: `me`, and sign-up, sign-in, refresh and sign-out."""

from __future__ import annotations

import strawberry

from resolvers.auth import accounts as auth
from resolvers.auth.accounts import TOKEN_TYPE, IssuedSession
from resolvers.records import UserRow
from schema.context import Info
from schema.types import User


def user_of(row: UserRow) -> User:
    return User(id=row.id, email=row.email, created_at=row.created_at)


@strawberry.type
class AuthPayload:
    access_token: str = strawberry.field(
        description="JWT (HS256 by default) with claims sub, role, email, aud, iss, iat, exp, sid"
    )
    refresh_token: str = strawberry.field(description="opaque, single use: refreshing rotates it")
    expires_in: int = strawberry.field(description="seconds until accessToken expires")
    token_type: str = strawberry.field(description='always "bearer"')
    user: User

    @classmethod
    def of(cls, issued: IssuedSession) -> AuthPayload:
        return cls(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=issued.expires_in,
            token_type=TOKEN_TYPE,
            user=user_of(issued.user),
        )


@strawberry.type
class AuthQuery:
    @strawberry.field(description="the signed-in user; UNAUTHENTICATED without a valid token")
    async def me(self, info: Info) -> User:
        return user_of(await auth.me(info.context))


@strawberry.type
class AuthMutation:
    @strawberry.mutation
    async def sign_up(self, info: Info, email: str, password: str) -> AuthPayload:
        return AuthPayload.of(await auth.sign_up(info.context, email, password))

    @strawberry.mutation
    async def sign_in(self, info: Info, email: str, password: str) -> AuthPayload:
        return AuthPayload.of(await auth.sign_in(info.context, email, password))

    @strawberry.mutation
    async def refresh_session(self, info: Info, refresh_token: str) -> AuthPayload:
        return AuthPayload.of(await auth.refresh(info.context, refresh_token))

    @strawberry.mutation(description="revokes the current session's refresh tokens")
    async def sign_out(self, info: Info) -> bool:
        return await auth.sign_out(info.context)
