"""Server-Sent Events: lines (as httpx's `aiter_lines` splits them) to `data` payloads."""

from __future__ import annotations


class SSEParser:
    """Assembles events from lines; comments such as `: OPENROUTER PROCESSING` and fields
    other than `data` are skipped."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line without its ending; return an event's data when the line ends it."""
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
            return None
        if not line:
            if not self._data:
                return None
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            self._data.clear()
            return data
        if line == "data":
            self._data.append("")
        return None

    def flush(self) -> str | None:
        """The data of an event left unterminated at the end of the stream, if any."""
        return self.feed("")
