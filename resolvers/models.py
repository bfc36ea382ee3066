"""The model aliases a caller may ask for."""

from __future__ import annotations

from gateway.router import AliasInfo
from resolvers.context import RequestContext


def aliases(ctx: RequestContext) -> list[AliasInfo]:
    return ctx.services.gateway.aliases()
