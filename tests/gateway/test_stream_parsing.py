"""The SSE and event-stream parsers give the same events however the bytes are chunked."""

from __future__ import annotations

import pytest
from botocore.eventstream import EventStreamBuffer
from fake_upstream import (
    converse_text,
    converse_tools,
    exception,
    frame,
    text_stream,
    tool_call_stream,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.converse import ConverseStreamReader
from gateway.errors import ProviderError
from gateway.events import ProviderEvent
from gateway.openai_compat import ChunkReader
from gateway.sse import SSEParser

SSE = b"".join(
    text_stream(["Hé", "llo", " wörld ✓"], crlf=True)[:-3]
    + tool_call_stream()[1:]
    # A comment whose line endings are bare CRs.
    + [b": keep-alive\r\r"]
)
FRAMES = b"".join(converse_text(["Grüß", " dich"])[:-2] + converse_tools()[1:])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def sse_events(chunks: list[bytes]) -> list[ProviderEvent]:
    parser, reader, events = SSEParser(), ChunkReader(), []
    for chunk in chunks:
        for data in parser.feed(chunk):
            events += reader.feed(data)
    for data in parser.flush():
        events += reader.feed(data)
    return events + reader.finish()


def frame_events(chunks: list[bytes]) -> list[ProviderEvent]:
    frames, reader, events = EventStreamBuffer(), ConverseStreamReader(), []
    for piece in chunks:
        frames.add_data(piece)
        for message in frames:
            events += reader.feed(message.headers, message.payload)
    return events + reader.finish()


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0), max_size=40))
def test_sse_events_do_not_depend_on_chunk_boundaries(cuts: list[int]) -> None:
    assert sse_events(split(SSE, cuts)) == sse_events([SSE])


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0), max_size=40))
def test_event_stream_events_do_not_depend_on_chunk_boundaries(cuts: list[int]) -> None:
    assert frame_events(split(FRAMES, cuts)) == frame_events([FRAMES])


def test_whole_streams_parse_to_the_expected_events() -> None:
    sse = [type(e).__name__ for e in sse_events([SSE])]
    assert sse == ["TextDelta"] * 3 + ["ToolCallEvent"] * 2 + ["UsageEvent", "Finished"]
    frames = [type(e).__name__ for e in frame_events([FRAMES])]
    assert frames == ["TextDelta"] * 3 + ["ToolCallEvent"] * 2 + ["UsageEvent", "Finished"]


def test_sse_parser_joins_multiline_data_and_skips_comments() -> None:
    parser = SSEParser()
    body = b": OPENROUTER PROCESSING\n\nevent: x\ndata: a\ndata:b\ndata\n\n"
    assert parser.feed(body) == ["a\nb\n"]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_sse_parser_takes_every_line_ending_split_anywhere(ending: bytes) -> None:
    body = b"\xef\xbb\xbf" + ending.join(
        [b"data: h\xc3\xa9", b"data: x", b"", b"data: y", b"", b""]
    )
    for cut in range(len(body) + 1):
        parser = SSEParser()
        events = parser.feed(body[:cut]) + parser.feed(body[cut:]) + parser.flush()
        assert events == ["h\u00e9\nx", "y"], (ending, cut)


def test_sse_parser_flushes_an_unterminated_last_event() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\ndata: [DONE]") == ["a"]
    assert parser.flush() == ["[DONE]"]
    assert parser.flush() == []
    ended_in_cr = SSEParser()
    assert ended_in_cr.feed(b"data: a\r") == []
    assert ended_in_cr.flush() == ["a"]


def test_fake_frames_decode_with_botocore() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(frame({":event-type": "x", ":message-type": "event"}, b"payload"))
    (message,) = list(buffer)
    assert message.headers == {":event-type": "x", ":message-type": "event"}
    assert message.payload == b"payload"


def test_exception_frame_raises_a_retryable_provider_error() -> None:
    with pytest.raises(ProviderError) as raised:
        frame_events([exception("throttlingException", "slow down")])
    assert (raised.value.kind, raised.value.retryable) == ("rate_limited", True)
