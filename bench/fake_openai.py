"""A fake OpenAI-compatible upstream for the benchmarks; the `model` says how it streams:

- "n=K": K deltas as fast as it can send them (the gateway's overhead benchmark);
- "tps=R,n=K": K deltas, R a second, like a model. Each is stamped with the wall-clock time
  it was sent (ns), the first also with the time the request arrived, so a client can tell
  what lies in between was added (the chat benchmark).

A request with `"stream": false` gets the whole `chat.completion` of K words at once (peers
that call upstream without streaming, bench/peers/).

Run as `python -m bench.fake_openai PORT`; it serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import uvicorn

_HEAD = [(b"content-type", b"text/event-stream")]
_JSON_HEAD = [(b"content-type", b"application/json")]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "openai/gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _completion(count: int) -> bytes:
    body = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "openai/gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " word" * count},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": count, "total_tokens": 5 + count},
    }
    return json.dumps(body).encode()


DELTA = _chunk({"content": " word"})
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
    request = json.loads(body)
    options = dict(p.split("=") for p in request["model"].split(","))
    count = int(options["n"])
    if not request.get("stream"):
        await send({"type": "http.response.start", "status": 200, "headers": _JSON_HEAD})
        await send({"type": "http.response.body", "body": _completion(count)})
        return

    async def part(data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    await send({"type": "http.response.start", "status": 200, "headers": _HEAD})
    await part(_chunk({"role": "assistant"}))
    if "tps" not in options:
        for _ in range(count):
            await part(DELTA)
    else:
        interval, start = 1 / float(options["tps"]), time.monotonic()
        for n in range(count):
            if n:
                await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
            stamp = f"{arrived}/{time.time_ns()} " if n == 0 else f"{time.time_ns()} "
            await part(_chunk({"content": stamp}))
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
        # Hosted providers keep idle connections for minutes; uvicorn's 5 s default would
        # race the gateway reusing one between two benchmark phases.
        timeout_keep_alive=120,
    )
