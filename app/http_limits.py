"""uvicorn's httptools protocol, with limits on a request's head: `[server] max_header_bytes`
and `max_headers`. A head over either is answered 431 before any app code sees it, the
WebSocket handshake included (it is parsed here before the upgrade).

uvicorn sets no limit of its own: httptools collects any number of headers, and a header
of any size, into memory. Counting happens in the parser's callbacks (exact, once a header
is complete) and over the bytes fed while a head is still incomplete (a header that never
ends is refused within one read of the limit, not buffered whole).

After the 431 the connection stays open for a moment, reading and discarding what the
client is still sending, so that closing does not reset the connection before the client
has read the answer.

On shutdown a subscription streaming over HTTP is told to drain (app/connections.py): it
ends its response properly, or, a chat turn, runs to its end within the grace period.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.connections import http_stream_of

# How long, and for how many bytes, a refused connection is drained before it is closed.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20

REFUSAL = (
    b'{"errors":[{"message":"Request header fields too large.",'
    b'"extensions":{"code":"BAD_USER_INPUT"}}]}'
)


class LimitedHttpTools(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int,
        max_headers: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self._in_head = True  # a connection starts with a request head
        self._head_began = False  # the current head began within the read being parsed
        self._head_bytes = 0  # exact: the URL and every complete header
        self._head_fed = 0  # every read, after the first, while the head is incomplete
        self._head_count = 0
        self._over = False
        self._discarded: int | None = None  # set once refused

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_began = True
        self._head_bytes = self._head_fed = self._head_count = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url), headers=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, headers=1)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int, headers: int) -> None:
        self._head_bytes += size
        self._head_count += headers
        if self._head_bytes > self.max_header_bytes or self._head_count > self.max_headers:
            self._over = True
            # Raised in a callback, it stops the parser: feed_data raises a callback error.
            raise OverflowError

    def data_received(self, data: bytes) -> None:
        if self._discarded is not None:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        self._head_began = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._over:
                self._refuse()
            else:
                self._invalid()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and not self._head_began:
            # Every byte of this read belongs to the head; the read it began in is not
            # counted, so this never overcounts.
            self._head_fed += len(data)
            if self._head_fed > self.max_header_bytes:
                self._refuse()

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            stream = http_stream_of(self.cycle.scope)
            if stream is not None:
                stream.drain()
        super().shutdown()

    def _invalid(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _refuse(self) -> None:
        self.logger.warning(
            "Request head over the limits (%d bytes, %d headers): 431.",
            self.max_header_bytes,
            self.max_headers,
        )
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(REFUSAL)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                REFUSAL,
            ]
        )
        self.transport.write(b"".join(content))
        self._discarded = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def limited_http(max_header_bytes: int, max_headers: int) -> type[asyncio.Protocol]:
    """The protocol for uvicorn's `http` option. A partial, not a class made here: with
    several workers uvicorn pickles its configuration, and a partial of a module-level class
    pickles."""
    factory = functools.partial(
        LimitedHttpTools, max_header_bytes=max_header_bytes, max_headers=max_headers
    )
    return cast("type[asyncio.Protocol]", factory)  # uvicorn calls it as it calls a class
