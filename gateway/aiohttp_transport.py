"""The gateway client's transport: httpx's API (requests, responses, timeouts, errors) on
aiohttp's connection pool and C HTTP parser.

Measured on the reference machine against httpx's own transport (httpcore, h11 and anyio), a
read of a streamed chunk costs 26 us of CPU where it cost 112-121, and a short streamed
request 0.44 ms where it cost 0.8-1.1 (docs/benchmarks.md). Failures are raised as the httpx
exceptions `gateway.openai_compat.transport_error` classifies, on both ways in: httpx's
client, and `DirectPost`, the same request to an OpenAI-compatible provider without httpx's
per-request work on top.

The URL is sent exactly as httpx built it (`encoded=True`): aiohttp would otherwise requote the
path, turning Bedrock's `%3A` in a model id into `:` after the request was signed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager

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


def _client_timeout(timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts (`Timeout.as_dict()`) in aiohttp's terms."""
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


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


# The headers are httpx's, as it built them; aiohttp adds none of its own.
_SKIP_AUTO_HEADERS = ("Accept-Encoding", "User-Agent", "Content-Type")


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
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                timeout=_client_timeout(timeout),
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


class DirectResponse:
    """The part of `httpx.Response` a streaming provider reads: status, headers, the body."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def aread(self) -> bytes:
        """The decoded body (an error's, whose detail is read from it)."""
        if self._response.headers.get("Content-Encoding", "identity") != "identity":
            return await self._decoded().aread()
        with _as_httpx_errors():
            return await self._response.read()

    def _decoded(self) -> httpx.Response:
        """The response as httpx's, which decodes a compressed body as before."""
        return httpx.Response(
            self._response.status, headers=self._response.raw_headers, stream=_Body(self._response)
        )

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The decoded body, each chunk as it arrives."""
        if self._response.headers.get("Content-Encoding", "identity") != "identity":
            # Compressed (upstreams rarely compress a stream): httpx decodes it, as before.
            async for chunk in self._decoded().aiter_bytes():
                yield chunk
            return
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_chunked(65536):
                yield chunk


class DirectPost:
    """POSTs to one URL on the transport's session, skipping what httpx does for every request
    on top of it: parsing and merging the URL and headers, its auth, redirect, cookie and event
    hook steps, its response model and the byte chunker under `aiter_bytes`. Those were a sixth
    of the CPU of an `/ai/v1` call (docs/benchmarks.md).

    The request is the one httpx would send (the headers of its `build_request`, made once),
    its failures the same httpx exceptions, its timeouts the same. One difference: no cookie
    jar, neither sent nor filled, which is what the session's `DummyCookieJar` is for (httpx's
    jar kept what an upstream set and sent it on other users' calls).
    """

    def __init__(
        self,
        transport: AiohttpTransport,
        url: str,
        headers: list[tuple[str, str]],
        timeout: Mapping[str, float | None],
    ) -> None:
        self._transport = transport
        self._url = URL(url, encoded=True)
        self._headers = headers
        self._timeout = _client_timeout(timeout)

    @asynccontextmanager
    async def stream(self, body: bytes) -> AsyncIterator[DirectResponse]:
        """The response to `body` (JSON), its body not read yet; released on exit."""
        with _as_httpx_errors():
            response = await self._transport._client().request(
                "POST",
                self._url,
                headers=self._headers,
                data=body,
                allow_redirects=False,
                compress=None,
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                timeout=self._timeout,
            )
        try:
            yield DirectResponse(response)
        finally:
            # A body not read to its end closes its connection rather than returning it.
            response.release()


def direct_post(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str], timeout: httpx.Timeout
) -> DirectPost | None:
    """A `DirectPost` for JSON bodies to `url` when `client` would send them through an
    `AiohttpTransport` with nothing of its own in between; else None (a proxy from the
    environment, auth, event hooks, cookies set on it: httpx's own path serves those)."""
    request = client.build_request(
        "POST", url, headers={**headers, "Content-Type": "application/json"}, timeout=timeout
    )
    transport = client._transport_for_url(request.url)
    if (
        not isinstance(transport, AiohttpTransport)
        or client.auth is not None
        or any(client.event_hooks.values())
        or client.cookies
    ):
        return None
    # The length is each body's.
    sent = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    return DirectPost(transport, str(request.url), sent, timeout.as_dict())
