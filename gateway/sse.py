"""Server-Sent Events: a response body's bytes, however they are chunked, to `data` payloads.

Parsed from bytes rather than from httpx's `aiter_lines`: a model streams one small event per
read, and the two text layers under `aiter_lines` cost more than this whole parser
(docs/benchmarks.md).
"""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"


class SSEParser:
    """Assembles events from a body's chunks; lines end in LF, CRLF or a bare CR, as the
    format allows. Comments such as `: OPENROUTER PROCESSING` and fields other than `data`
    are skipped."""

    __slots__ = ("_data", "_partial", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._data: list[bytes] = []
        # The start of a line whose end has not arrived yet.
        self._partial = b""
        # The last chunk ended in CR: an LF opening the next one ends no further line.
        self._skip_lf = False
        self._started = False

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event this chunk completes."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        buffer = self._partial + chunk if self._partial else chunk
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._partial = buffer.split(b"\n")
        if lines and not self._started:
            # A byte order mark may open the stream; split across chunks, it is whole only
            # once the first line is.
            self._started = True
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
        events: list[str] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data).decode("utf-8", "replace"))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            elif line == b"data":
                self._data.append(b"")
        return events

    def flush(self) -> list[str]:
        """The data of an event left unterminated at the end of the stream, if any."""
        # Both line ends count here, even after a CR that would have swallowed an LF.
        self._skip_lf = False
        return self.feed(b"\n\n")
