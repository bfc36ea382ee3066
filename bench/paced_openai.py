"""A fake OpenAI-compatible upstream that streams like a model: `model` "tps=R,n=K" sends K
deltas R per second, each stamped with the wall-clock time it was sent (ns), the first also
with the time the request arrived, so a client can tell what lies in between was added.

Run as `python -m bench.paced_openai PORT`; it serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import uvicorn

_HEAD = [(b"content-type", b"text/event-stream")]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-paced",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "paced",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


TAIL = (
    _chunk({}, "stop")
    + b'data: {"id":"x","object":"chat.completion.chunk","choices":[],'
    + b'"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}\n\n'
    + b"data: [DONE]\n\n"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    arrived = time.time_ns()
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    options = dict(p.split("=") for p in json.loads(body)["model"].split(","))
    interval, count = 1 / float(options["tps"]), int(options["n"])
    await send({"type": "http.response.start", "status": 200, "headers": _HEAD})
    await send(
        {"type": "http.response.body", "body": _chunk({"role": "assistant"}), "more_body": True}
    )
    start = time.monotonic()
    for n in range(count):
        if n:
            await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        stamp = f"{arrived}/{time.time_ns()} " if n == 0 else f"{time.time_ns()} "
        await send(
            {"type": "http.response.body", "body": _chunk({"content": stamp}), "more_body": True}
        )
    await send({"type": "http.response.body", "body": TAIL, "more_body": False})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        lifespan="off",
        ws="none",
        access_log=False,
    )
