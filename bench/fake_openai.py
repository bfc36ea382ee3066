"""A fast fake OpenAI-compatible upstream for the benchmarks: `model` "n=K" streams K deltas.

Run as `python -m bench.fake_openai PORT`; it serves until killed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn

_HEAD = [(b"content-type", b"text/event-stream")]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "openai/gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


DELTA = _chunk({"content": " word"})
TAIL = (
    _chunk({}, "stop")
    + b'data: {"id":"x","object":"chat.completion.chunk","choices":[],'
    + b'"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}\n\n'
    + b"data: [DONE]\n\n"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    count = int(json.loads(body)["model"].partition("=")[2])
    await send({"type": "http.response.start", "status": 200, "headers": _HEAD})
    await send(
        {"type": "http.response.body", "body": _chunk({"role": "assistant"}), "more_body": True}
    )
    for _ in range(count):
        await send({"type": "http.response.body", "body": DELTA, "more_body": True})
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
