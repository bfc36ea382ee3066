"""What a model sees of a conversation: the system prompt, then the newest messages in order,
tool calls and their results replayed as they happened."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.records import MessageRow
from gateway.request import Message, ToolCall


def tool_calls_metadata(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """How an assistant message keeps the calls it made, in `metadata.tool_calls`."""
    return [{"id": c.id, "name": c.name, "arguments": c.arguments_json} for c in calls]


def saved_tool_calls(row: MessageRow) -> list[ToolCall]:
    """The calls an assistant message made, from its `metadata.tool_calls`."""
    stored = row.metadata.get("tool_calls")
    if not isinstance(stored, list):
        return []
    return [
        ToolCall(str(c["id"]), str(c["name"]), str(c.get("arguments") or "{}"))
        for c in stored
        if isinstance(c, dict) and "id" in c and "name" in c
    ]


def to_messages(system_prompt: str, rows: Sequence[MessageRow]) -> list[Message]:
    """Providers refuse a tool result without its call and a call without its result, and the
    history window may cut between them (or a turn may have been cut off): such halves are
    left out."""
    answered = {row.metadata.get("tool_call_id") for row in rows if row.role == "tool"}
    messages = [Message("system", system_prompt)] if system_prompt else []
    called: set[str] = set()
    for row in rows:
        if row.role == "assistant":
            calls = [c for c in saved_tool_calls(row) if c.id in answered]
            called.update(c.id for c in calls)
            content = row.content if row.content or not calls else None
            messages.append(Message("assistant", content, tool_calls=tuple(calls)))
        elif row.role == "tool":
            call_id = row.metadata.get("tool_call_id")
            if call_id in called:
                name = row.metadata.get("name")
                messages.append(
                    Message(
                        "tool",
                        row.content,
                        tool_call_id=str(call_id),
                        name=str(name) if name else None,
                    )
                )
        elif row.role == "user":
            messages.append(Message("user", row.content))
        elif row.role == "system":
            messages.append(Message("system", row.content))
    return messages
