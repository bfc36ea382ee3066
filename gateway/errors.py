"""The gateway's exceptions: what callers catch, and what providers raise to the router."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises."""


class UnknownModel(GatewayError):
    """The model is neither a configured alias nor a usable `provider/model` target."""


class CompletionFailed(GatewayError):
    """`Gateway.complete` could not produce a reply; the message is safe to show a user."""

    def __init__(self, message: str, kind: str, target: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.target = target


# Kinds of provider failure. The router decides on retries and cooldowns by kind, and the
# metrics count by kind, so the set stays small and fixed.
TIMEOUT = "timeout"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"
CONNECTION = "connection"
TRUNCATED = "truncated"
AUTH = "auth"
INVALID_REQUEST = "invalid_request"
UPSTREAM = "upstream"

# Kinds that say the target, not the request, is at fault: only these count towards a
# cooldown. A request the provider refuses (400, 404, 413, 422...) would be refused by any
# target, so cooling one down for it would punish every other caller. AUTH is here: a
# refused key fails every request until the operator fixes it, so the alias's other
# targets should serve meanwhile. A kind added later cools nothing down until listed.
PROVIDER_FAULTS = frozenset(
    {TIMEOUT, RATE_LIMITED, UNAVAILABLE, CONNECTION, TRUNCATED, UPSTREAM, AUTH}
)


class ProviderError(GatewayError):
    """One failed attempt at one target, raised by a provider and handled by the router.

    The message is for logs: it never holds a key or message contents, but it may hold an
    upstream error code, so the router never shows it to users.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def error_for_status(status: int, detail: str, retry_after: float | None) -> ProviderError:
    """Classify an upstream HTTP error status the same way for every provider."""
    message = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status == 408:
        kind = TIMEOUT
    elif status == 429:
        kind = RATE_LIMITED
    elif status >= 500:
        kind = UNAVAILABLE
    elif status in (401, 403):
        kind = AUTH
    else:
        kind = INVALID_REQUEST
    retryable = status in (408, 429) or status >= 500
    return ProviderError(kind, message, status=status, retryable=retryable, retry_after=retry_after)
