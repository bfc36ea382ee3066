"""The `[chat]` section: what a chat turn sends the model, and its limits. Read by the chat
resolvers; the app only assembles it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system_prompt: str = "You are a helpful assistant."
    history_limit: int = Field(default=50, ge=1, le=1000)
    max_messages_per_hour: int = Field(default=60, ge=1)
    tools: list[str] = Field(default_factory=lambda: ["search_products"])
    max_message_chars: int = Field(default=32_000, ge=1)
    max_tool_rounds: int = Field(default=5, ge=1, le=50)
