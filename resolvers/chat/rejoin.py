"""Rejoining a reply (`resumeChat`) and ending one early (`stopChat`), from any connection.

Both read the reply under the caller's row-level security first: another user's reply is
simply not there (NOT_FOUND). A reply running in this process is followed or stopped through
its `LiveTurn`; one running in another process through its checkpoints in the database (and,
when a broker is configured, the live text the owner publishes); one that has ended replays
at once from its saved row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from uuid import UUID

from db import turns as turn_queries
from db.records import MessageRow
from resolvers.chat.live import Followed, TurnSnapshot
from resolvers.chat.relay import POLL_SECONDS, ended, from_checkpoints
from resolvers.context import RequestContext
from resolvers.errors import NotFound

log = logging.getLogger("reactor.chat")

# How long stopChat waits for the reply to be saved before answering with what is there.
STOP_WAIT_SECONDS = 10.0


async def _reply(ctx: RequestContext, reply_id: UUID) -> MessageRow:
    ctx.user_id()
    async with ctx.db() as conn:
        row = await turn_queries.message(conn, reply_id)
    if row is None or row.role != "assistant":
        raise NotFound("No such reply.")
    return row


async def resume(ctx: RequestContext, reply_id: UUID) -> AsyncGenerator[Followed, None]:
    """TurnSnapshot (the reply so far), the live events, then TurnCompleted; snapshot plus
    deltas are the saved reply exactly."""
    row = await _reply(ctx, reply_id)
    live = ctx.services.hub.get(reply_id)
    if live is not None:
        follower = live.follow(snapshot=True)
        try:
            async for event in follower:
                yield event
        finally:
            follower.close()
        return
    if row.status != turn_queries.STREAMING:
        yield TurnSnapshot(row.content)
        yield ended(row)
        return
    relay = ctx.services.relay
    read = partial(_reply, ctx)
    elsewhere = relay.follow_elsewhere(row, read) if relay else from_checkpoints(row.id, None, read)
    async with aclosing(elsewhere) as events:
        async for event in events:
            yield event


async def stop(ctx: RequestContext, reply_id: UUID) -> MessageRow:
    """End a streaming reply early: the upstream request closed, the reply so far saved
    INCOMPLETE (finish reason "cancelled"). A reply that has ended is returned as it is."""
    row = await _reply(ctx, reply_id)
    if row.status != turn_queries.STREAMING:
        return row
    live = ctx.services.hub.get(reply_id)
    if live is not None:
        live.stop("cancelled")
        try:
            await asyncio.wait_for(asyncio.shield(live.done.wait()), STOP_WAIT_SECONDS)
        except TimeoutError:
            log.warning("stopChat: reply %s was not saved in time", reply_id)
        return await _reply(ctx, reply_id)
    if ctx.services.relay is not None:
        await ctx.services.relay.stop_elsewhere(reply_id)
    return await _wait_ended(ctx, reply_id)


async def _wait_ended(ctx: RequestContext, reply_id: UUID) -> MessageRow:
    loop = asyncio.get_running_loop()
    end = loop.time() + STOP_WAIT_SECONDS
    row = await _reply(ctx, reply_id)
    while row.status == turn_queries.STREAMING and loop.time() < end:
        await asyncio.sleep(POLL_SECONDS)
        row = await _reply(ctx, reply_id)
    return row
