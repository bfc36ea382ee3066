"""uvicorn's WebSocket protocol, with a shutdown that lets operations in flight finish.

On SIGTERM uvicorn stops accepting, then asks every connection to shut down and waits up to
`timeout_graceful_shutdown` for them to go. Its own WebSocket protocol closes at once (1012),
which would cut a streaming chat turn short. This one closes an idle connection at once too,
but lets a connection with operations in flight (a chat turn streaming) finish them first and
then closes it with 1012, so a client reconnects elsewhere. What is still running when the
grace period ends is cancelled by uvicorn, and the app's lifespan shutdown then cancels what
remains of the turns, each saving its partial reply.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.connections import ConnectionActivity, activity_of

GRACEFUL_WEBSOCKETS = "app.graceful_ws:GracefulWebSockets"

log = logging.getLogger("reactor.shutdown")


class GracefulWebSockets(WebSocketsSansIOProtocol):
    _closing: asyncio.Task[None] | None = None

    def shutdown(self) -> None:
        activity = activity_of(getattr(self, "scope", None))
        if activity is None or not activity.busy or self.disconnected:
            super().shutdown()
            return
        if self._closing is None:
            log.info("shutdown: a WebSocket has %d operation(s) in flight", activity.operations)
            self._closing = asyncio.ensure_future(self._shutdown_when_idle(activity))

    async def _shutdown_when_idle(self, activity: ConnectionActivity) -> None:
        await activity.wait_idle()
        if not self.disconnected:
            super().shutdown()
