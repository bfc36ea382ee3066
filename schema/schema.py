"""The assembled schema: root types, limits, error codes."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext

from schema.auth import AuthMutation, AuthQuery
from schema.chat import ChatMutation, Subscription
from schema.conversation_events import ConversationSubscription
from schema.errors import classify
from schema.limits import GraphQLLimits, limit_extensions
from schema.metrics import OperationMetrics
from schema.mutation import Mutation
from schema.query import Query
from schema.streaming import StreamingExecutor


class ReactorSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            classify(error, execution_context)


def build_schema(
    limits: GraphQLLimits, transport_extensions: Sequence[type[SchemaExtension]] = ()
) -> ReactorSchema:
    """`transport_extensions`: what the serving transport adds to every operation (the app's
    connection tracking); the schema itself knows no transport."""
    return ReactorSchema(
        query=merge_types("Query", (Query, AuthQuery)),
        mutation=merge_types("Mutation", (Mutation, AuthMutation, ChatMutation)),
        subscription=merge_types("Subscription", (Subscription, ConversationSubscription)),
        # The parser cache first: a client sends the same few documents over and over (a chat
        # turn is one subscription document), and parsing one costs milliseconds. Validation,
        # cached too, is the limits' (schema/limits.py).
        extensions=[
            partial(ParserCache, maxsize=256),
            OperationMetrics,
            *transport_extensions,
            *limit_extensions(limits),
        ],
        # Text deltas are rendered from one execution per subscription (schema/streaming.py).
        execution_context_class=StreamingExecutor,
        config=StrawberryConfig(
            disable_field_suggestions=True,
            batching_config={"max_operations": limits.max_batch_operations},
        ),
    )
