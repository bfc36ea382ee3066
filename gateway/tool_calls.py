"""Assembles tool calls streamed as fragments, keeping parallel calls apart by index."""

from __future__ import annotations

import uuid

from gateway.events import ToolCallEvent


class _Partial:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class ToolCallAssembler:
    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def add(
        self,
        index: int,
        id: str | None,  # noqa: A002 - `id` as in the wire format
        name: str | None,
        arguments: str | None,
    ) -> None:
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Partial()
        if id and not call.id:
            call.id = id
        if name:
            # Most providers send the name once; some send it in pieces.
            call.name = name if not call.name or call.name == name else call.name + name
        if arguments:
            call.arguments.append(arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def events(self) -> list[ToolCallEvent]:
        """The calls in index order, renumbered from 0 so consumers see dense indexes."""
        return [
            ToolCallEvent(
                index=n,
                id=call.id or f"call_{uuid.uuid4().hex[:24]}",
                name=call.name,
                arguments_json="".join(call.arguments) or "{}",
            )
            for n, (_, call) in enumerate(sorted(self._calls.items()))
        ]
