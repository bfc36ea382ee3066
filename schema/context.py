"""The GraphQL context is the resolvers' RequestContext; Info is typed with it."""

from __future__ import annotations

from typing import TypeAlias

import strawberry

from resolvers.context import RequestContext

Info: TypeAlias = strawberry.Info[RequestContext, None]
