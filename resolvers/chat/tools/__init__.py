"""Tools a model may call during a chat turn: a registry of small modules, one per tool.

Adding a tool is one module exposing `TOOL` (a `Tool`) and one line in `_ALL`; `[chat] tools`
chooses which are offered. A tool runs as the caller, under row-level security, and whatever
goes wrong comes back to the model as `{"error": ...}` rather than ending the turn.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from gateway.request import ToolSpec
from resolvers.chat.tools import search_products
from resolvers.context import RequestContext
from resolvers.errors import AppError

log = logging.getLogger("reactor.chat")


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, ctx: RequestContext, arguments: dict[str, Any]) -> Any:
        """The result, JSON-serialisable; BadUserInput for arguments it cannot use."""
        ...


_ALL: tuple[Tool, ...] = (search_products.TOOL,)
TOOLS: dict[str, Tool] = {tool.spec.name: tool for tool in _ALL}


def unknown(names: Iterable[str]) -> list[str]:
    return [name for name in names if name not in TOOLS]


def specs(names: Iterable[str]) -> list[ToolSpec]:
    """The specs of the named tools that exist, in the given order."""
    return [TOOLS[name].spec for name in names if name in TOOLS]


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


async def call(ctx: RequestContext, offered: Iterable[str], name: str, arguments_json: str) -> str:
    """Run one call the model made; the JSON text handed back to it."""
    tool = TOOLS.get(name) if name in set(offered) else None
    if tool is None:
        return _encode({"error": f"There is no tool named {name!r}."})
    try:
        arguments = json.loads(arguments_json or "{}")
    except ValueError:
        return _encode({"error": "The arguments are not valid JSON."})
    if not isinstance(arguments, dict):
        return _encode({"error": "The arguments must be a JSON object."})
    try:
        return _encode(await tool.run(ctx, arguments))
    except AppError as exc:
        return _encode({"error": exc.message})
    except Exception:
        log.exception("tool %s failed (request %s)", name, ctx.request_id)
        return _encode({"error": "The tool failed."})
