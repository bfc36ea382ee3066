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
    # Turns streaming at once per user, on every surface: a turn outlives its client, so this
    # is what keeps one user from starting hundreds.
    max_turns_in_flight: int = Field(default=4, ge=1, le=1000)
    # Seconds of reply text a crash may lose: the reply is saved this often while it streams.
    checkpoint_interval: float = Field(default=1.0, gt=0, le=60)
    # A reply longer than this is ended, saved incomplete with finish reason "length".
    max_reply_chars: int = Field(default=200_000, ge=1)
    # A process that has not beaten its heartbeat for this long is taken for dead, and the
    # replies it left streaming are marked incomplete ("interrupted") by another.
    turn_lease_seconds: float = Field(default=15.0, ge=1, le=600)
    # Events a follower may fall behind before it is let go (it can rejoin).
    max_buffered_events: int = Field(default=2000, ge=10)
    # The model alias that titles a conversation after its first reply; empty turns it off.
    title_model: str = "fast"
