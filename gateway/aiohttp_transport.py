"""The gateway client's transport: httpx's API (requests, responses, timeouts, errors) on
aiohttp's connection pool and C HTTP parser.

Measured on the reference machine against httpx's own transport (httpcore, h11 and anyio), a
read of a streamed chunk costs 26 us of CPU where it cost 112-121, and a short streamed
request 0.44 ms where it cost 0.8-1.1 (docs/benchmarks.md). Callers see httpx only: failures
are raised as the httpx exceptions `gateway.openai_compat.transport_error` classifies.

The URL is sent exactly as httpx built it (`encoded=True`): aiohttp would otherwise requote the
path, turning Bedrock's `%3A` in a model id into `:` after the request was signed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from yarl import URL

# The first matching entry wins: subclasses before their bases.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    # The pool's wait for a free connection, `connect` in aiohttp's terms.
    (TimeoutError, httpx.PoolTimeout),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        for aiohttp_error, httpx_error in _ERRORS:
            if isinstance(exc, aiohttp_error):
                raise httpx_error(str(exc) or type(exc).__name__) from exc
        raise


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            # Each chunk as it arrives (up to 64 KiB), so a stream is relayed without delay.
            async for chunk in self._response.content.iter_chunked(65536):
                yield chunk

    async def aclose(self) -> None:
        # A body not read to its end closes its connection rather than returning it.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one aiohttp session, made on the first request (it needs the loop)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            )
            # Proxies from the environment are httpx's (its mounts), as with its own transport.
            # No cookie jar: a cookie one upstream sets must not ride along on other users'
            # calls (httpx keeps its own jar, empty unless a caller sets one).
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _as_httpx_errors():
            response = await self._client().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                compress=None,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def connections_in_use(self) -> int:
        """Connections serving a response right now (aiohttp's own count of them)."""
        if self._session is None or self._session.connector is None:
            return 0
        return len(self._session.connector._acquired)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
