"""A fake OpenAI-compatible provider on loopback: real SSE bytes, every request body kept.

The model name chooses the behaviour (aliases in the test app point at `fake/<behaviour>`):
- `text`: replies "Reply to: <last user message>" in 3-character chunks;
- `tools`: to a user message, calls `search_products` with the text after "search " (in
  fragments, as real providers stream them); to a tool result, replies "Found: <result>";
- `loop`: calls `search_products` again after every result, until told `tool_choice: "none"`,
  when it answers "Giving up"; `stubborn`: the same, but ignores `tool_choice` (as Bedrock
  must);
- `stall`: sends two chunks, then holds the response open until the client goes away;
- `hold`: sends the last user message back as one chunk, then holds like `stall`;
- `slow`: replies "Reply to: <last user message>" in 3-character chunks 50 ms apart, to the end
  whether or not the client is still there (`finished` says it was read to its end);
- `long`: replies `LONG_CHUNKS` chunks of "0123456789" as fast as it can;
- `dirty`: replies with text PostgreSQL cannot store: `DIRTY_CHUNKS` (a NUL, a lone surrogate);
- `broken`: sends two chunks, then an error event mid-stream;
- `fail`: answers HTTP 500.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

STALL_CHUNKS = ("partial ", "reply ")
LONG_CHUNKS = 20_000
DIRTY_CHUNKS = ("nul\x00here ", "lone\ud800surrogate")
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _sse(obj: Any) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def _chunk(delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _text_chunks(text: str) -> list[bytes]:
    return [_sse(_chunk({"content": text[i : i + 3]})) for i in range(0, len(text), 3)]


def _ending(finish: str) -> list[bytes]:
    usage = _chunk(None)
    usage["usage"] = USAGE
    return [_sse(_chunk({}, finish)), _sse(usage), _sse("[DONE]")]


def reply_to(message: str) -> str:
    return f"Reply to: {message}"


def search_query(message: str) -> str:
    _, found, rest = message.partition("search ")
    return rest if found else message


class FakeProvider:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: list[dict[str, Any]] = []
        # Last user message of each stalled request whose client has gone away.
        self._closed: set[str] = set()
        # Last user message of each slow request read to its end.
        self._finished: set[str] = set()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies)

    def bodies_mentioning(self, text: str) -> list[dict[str, Any]]:
        """The request bodies whose messages contain `text`, oldest first."""
        return [
            b for b in self.bodies if any(text in (m.get("content") or "") for m in b["messages"])
        ]

    def was_closed(self, last_user_message: str) -> bool:
        with self._lock:
            return last_user_message in self._closed

    def finished(self, last_user_message: str) -> bool:
        with self._lock:
            return last_user_message in self._finished

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw)
        with self._lock:
            self._bodies.append(body)
        behaviour = body["model"]
        messages = body["messages"]
        last = messages[-1]
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if behaviour == "fail":
            error = json.dumps({"error": {"message": "boom", "code": "server_error"}}).encode()
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": error})
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def emit(parts: list[bytes], more: bool = True) -> None:
            for part in parts:
                await send({"type": "http.response.body", "body": part, "more_body": True})
            if not more:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        role = [_sse(_chunk({"role": "assistant", "content": ""}))]
        if behaviour in ("stall", "hold"):
            chunks = STALL_CHUNKS if behaviour == "stall" else (last_user,)
            await emit(role + [_sse(_chunk({"content": c})) for c in chunks])
            while (await receive())["type"] != "http.disconnect":
                pass
            with self._lock:
                self._closed.add(last_user)
            return
        if behaviour == "slow":
            for part in role + _text_chunks(reply_to(last_user)) + _ending("stop"):
                await emit([part])
                await asyncio.sleep(0.05)
            await emit([], more=False)
            with self._lock:
                self._finished.add(last_user)
            return
        if behaviour in ("long", "dirty"):
            texts = ["0123456789"] * LONG_CHUNKS if behaviour == "long" else list(DIRTY_CHUNKS)
            # JSON's \u escapes carry a lone surrogate as real providers send it.
            parts = [f"data: {json.dumps(_chunk({'content': t}))}\n\n".encode() for t in texts]
            await emit(role + parts + _ending("stop"), more=False)
            return
        if behaviour == "broken":
            parts = [_sse(_chunk({"content": c})) for c in STALL_CHUNKS]
            await emit(role + parts + [_sse({"error": {"code": "server_error", "message": "x"}})])
            await emit([], more=False)
            return
        looping = behaviour == "stubborn" or (
            behaviour == "loop" and body.get("tool_choice") != "none"
        )
        if (behaviour == "tools" and last["role"] != "tool") or looping:
            arguments = json.dumps({"query": search_query(last_user)}, ensure_ascii=False)
            half = len(arguments) // 2

            def call(**fields: Any) -> bytes:
                return _sse(_chunk({"tool_calls": [{"index": 0, **fields}]}))

            await emit(
                [
                    _sse(_chunk({"role": "assistant", "content": None})),
                    call(
                        id="call_1",
                        type="function",
                        function={"name": "search_products", "arguments": ""},
                    ),
                    call(function={"arguments": arguments[:half]}),
                    call(function={"arguments": arguments[half:]}),
                    *_ending("tool_calls"),
                ],
                more=False,
            )
            return
        if behaviour == "loop":
            text = "Giving up"
        elif behaviour == "tools":
            text = f"Found: {last['content']}"
        else:
            text = reply_to(last_user)
        await emit(role + _text_chunks(text) + _ending("stop"), more=False)
        await asyncio.sleep(0)
