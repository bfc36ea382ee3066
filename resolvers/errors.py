"""The errors a caller may see. Each carries the contract's `extensions.code`; GraphQL puts
`extensions` on the error as-is, and the HTTP surfaces map the code to a status."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        # graphql-core copies `extensions` from the original error onto the GraphQL error.
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(AppError):
    code = "FORBIDDEN"
    status = 403


class NotFound(AppError):
    code = "NOT_FOUND"
    status = 404


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"
    status = 400


class Conflict(AppError):
    code = "CONFLICT"
    status = 409


class RateLimited(AppError):
    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)
        self.retry_after = retry_after


class UpstreamError(AppError):
    code = "UPSTREAM_ERROR"
    status = 502
