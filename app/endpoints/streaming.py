"""Streaming responses that notice the client leaving even while nothing is being sent.

Starlette's StreamingResponse under ASGI 2.4 only learns of a disconnect when a write fails,
so a stream waiting on a slow model would run on for nobody. Here the client's disconnect
cancels the stream's task at once: the chat turn saves its partial reply and the gateway
closes the upstream request.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self.stream_response(send))
        listening = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({streaming, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
            streaming.cancel()
            with suppress(asyncio.CancelledError, OSError):
                await streaming
            with suppress(asyncio.CancelledError):
                await listening
