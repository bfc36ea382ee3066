"""Fake providers on loopback that emit the real wire bytes: OpenAI-style SSE and Bedrock
ConverseStream event-stream frames. Tests script replies per model name."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import threading
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway import ChatRequest, Gateway, Message
from gateway.events import Event

# --- OpenAI SSE -----------------------------------------------------------------------------


def sse(obj: Any, *, crlf: bool = False) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj)
    line = f"data: {data}"
    return (line + "\r\n\r\n" if crlf else line + "\n\n").encode()


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def text_stream(words: Iterable[str], *, crlf: bool = False) -> list[bytes]:
    """A complete stream: role chunk, a processing comment, words, finish, usage, [DONE]."""
    nl = "\r\n" if crlf else "\n"
    parts = [sse(chunk({"role": "assistant", "content": ""}), crlf=crlf)]
    parts.append(f": OPENROUTER PROCESSING{nl}{nl}".encode())
    parts += [sse(chunk({"content": w}), crlf=crlf) for w in words]
    parts.append(sse(chunk({}, finish="stop"), crlf=crlf))
    parts.append(sse(chunk(usage=USAGE), crlf=crlf))
    parts.append(sse("[DONE]", crlf=crlf))
    return parts


def tool_call_stream() -> list[bytes]:
    """Two parallel tool calls whose fragments interleave across chunks."""

    def call(index: int, **fields: Any) -> bytes:
        return sse(chunk({"tool_calls": [{"index": index, **fields}]}))

    return [
        sse(chunk({"role": "assistant", "content": None})),
        call(
            0, id="call_a", type="function", function={"name": "search_products", "arguments": ""}
        ),
        call(1, id="call_b", type="function", function={"name": "get_weather", "arguments": ""}),
        call(0, function={"arguments": '{"query": '}),
        call(1, function={"arguments": '{"city": "Par'}),
        call(0, function={"arguments": '"lamps"}'}),
        call(1, function={"arguments": 'is"}'}),
        sse(chunk({}, finish="tool_calls")),
        sse(chunk(usage=USAGE)),
        sse("[DONE]"),
    ]


# --- Bedrock event stream -------------------------------------------------------------------


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One `application/vnd.amazon.eventstream` message with its prelude and message CRCs."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, body: dict[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    # Bedrock pads payloads with a "p" field; readers must ignore it.
    return frame(headers, json.dumps({**body, "p": "abcdefgh"}).encode())


def exception(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


BEDROCK_USAGE = {"inputTokens": 11, "outputTokens": 4, "totalTokens": 15}


def converse_text(words: Iterable[str]) -> list[bytes]:
    return [
        event("messageStart", {"role": "assistant"}),
        *[
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": w}})
            for w in words
        ],
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event("metadata", {"usage": BEDROCK_USAGE, "metrics": {"latencyMs": 12}}),
    ]


def converse_tools() -> list[bytes]:
    """Text, then two toolUse blocks with their input streamed in pieces."""

    def delta(index: int, value: dict[str, Any]) -> bytes:
        return event("contentBlockDelta", {"contentBlockIndex": index, "delta": value})

    def start(index: int, tool_id: str, name: str) -> bytes:
        body = {
            "contentBlockIndex": index,
            "start": {"toolUse": {"toolUseId": tool_id, "name": name}},
        }
        return event("contentBlockStart", body)

    return [
        event("messageStart", {"role": "assistant"}),
        delta(0, {"text": "Looking"}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        start(1, "tooluse_a", "search_products"),
        delta(1, {"toolUse": {"input": '{"query"'}}),
        delta(1, {"toolUse": {"input": ': "desk"}'}}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        start(2, "tooluse_b", "get_weather"),
        delta(2, {"toolUse": {"input": '{"city": "Oslo"}'}}),
        event("contentBlockStop", {"contentBlockIndex": 2}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": BEDROCK_USAGE}),
    ]


_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def sigv4_problem(
    raw_path: str, headers: dict[str, str], body: bytes, secret: str, region: str
) -> str | None:
    """Why the request's SigV4 signature is wrong, or None when it is right."""
    match = _AUTH.match(headers.get("authorization", ""))
    if match is None:
        return "no SigV4 Authorization header"
    if match["service"] != "bedrock":
        return f"credential scope service is {match['service']}"
    if match["region"] != region:
        return f"credential scope region is {match['region']}"
    signed = match["signed"].split(";")
    request = AWSRequest(
        method="POST",
        url=f"http://{headers['host']}{raw_path}",
        data=body,
        headers={name: headers[name] for name in signed if name != "host"},
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(match["key"], secret), "bedrock", region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != match["signature"]:
        return "signature does not match the request as received"
    return None


# --- The server -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # bytes are written as one chunk each; a float pauses that many seconds.
    parts: list[bytes | float] = field(default_factory=list)
    # Drop the connection after the parts, without ending the chunked body.
    truncate: bool = False
    # Keep writing this chunk until the client goes away.
    forever: bytes | None = None


@dataclass
class Recorded:
    path: str
    raw_path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeUpstream:
    """Serves `/…/chat/completions` (model = the JSON `model`) and
    `/model/{id}/converse-stream` (model = the decoded id), as scripted per model."""

    AWS_SECRET = "fake-secret-key"
    AWS_REGION = "eu-west-3"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = {}
        self._requests: dict[str, list[Recorded]] = {}
        self._closed: dict[str, threading.Event] = {}
        self._active: dict[str, int] = {}
        self.max_active: dict[str, int] = {}
        self.url = ""

    def script(self, model: str, *replies: Reply) -> None:
        """Replies for successive requests naming `model`; the last one repeats."""
        with self._lock:
            self._scripts[model] = list(replies)
            self._closed[model] = threading.Event()

    def requests(self, model: str) -> list[Recorded]:
        with self._lock:
            return list(self._requests.get(model, []))

    def closed(self, model: str) -> threading.Event:
        """Set when a client of a `forever` reply for `model` disconnects."""
        return self._closed[model]

    def _next(self, model: str, record: Recorded) -> Reply | None:
        with self._lock:
            self._requests.setdefault(model, []).append(record)
            script = self._scripts.get(model)
            if not script:
                return None
            return script.pop(0) if len(script) > 1 else script[0]

    async def __call__(
        self, scope: Any, receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        raw_path = scope["raw_path"].decode()
        record = Recorded(scope["path"], raw_path, headers, body)
        if raw_path.startswith("/model/"):
            model = unquote(raw_path.split("/")[2])
            problem = sigv4_problem(raw_path, headers, body, self.AWS_SECRET, self.AWS_REGION)
            content_type = "application/vnd.amazon.eventstream"
        else:
            model = json.loads(body).get("model", "")
            problem = None
            content_type = "text/event-stream"
        reply = self._next(model, record)
        if problem is not None:
            reply = Reply(
                403, {"x-amzn-errortype": "InvalidSignatureException"}, [problem.encode()]
            )
        if reply is None:
            reply = Reply(404, {}, [b'{"error": {"message": "no script", "code": 404}}'])
        with self._lock:
            active = self._active[model] = self._active.get(model, 0) + 1
            self.max_active[model] = max(self.max_active.get(model, 0), active)
        try:
            await self._respond(model, reply, content_type, receive, send)
        finally:
            with self._lock:
                self._active[model] -= 1

    async def _respond(
        self, model: str, reply: Reply, content_type: str, receive: Any, send: Any
    ) -> None:
        headers = {"content-type": content_type if reply.status == 200 else "application/json"}
        headers.update(reply.headers)
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        for part in reply.parts:
            if isinstance(part, float):
                await asyncio.sleep(part)
            else:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        if reply.truncate:
            raise ConnectionAbortedError("truncated on purpose")
        if reply.forever is not None:
            gone = asyncio.Event()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone.set()

            watcher = asyncio.create_task(watch())
            try:
                while not gone.is_set():
                    await send(
                        {"type": "http.response.body", "body": reply.forever, "more_body": True}
                    )
                    await asyncio.sleep(0.005)
            except Exception:  # noqa: BLE001, S110 - a write to a closed connection; the watcher knows
                pass
            finally:
                await watcher
            self._closed[model].set()
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def free_port_refusing() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ServerThread:
    """uvicorn on 127.0.0.1, a free port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="critical", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]})

    def __enter__(self) -> ServerThread:
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._sock.close()


def unique(prefix: str = "m") -> str:
    """A model name no other test scripts, since the server lives for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


OPENAI_KEY = "sk-test-openai-key-0123456789"
OPENROUTER_KEY = "sk-or-test-key-9876543210"
AWS_KEY_ID = "AKIDFAKEFAKEFAKE"
HELLO = ChatRequest(messages=[Message("user", "Say hello")])
# Builds a Gateway over the fake: `make_gateway(aliases, **ai_settings)`.
GatewayFactory = Callable[..., Gateway]


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]
