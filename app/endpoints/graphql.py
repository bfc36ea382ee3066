"""/graphql over HTTP and WebSocket: builds each request's context and admits WebSockets.

A batched HTTP request runs at most one credential mutation (signUp, signIn,
refreshSession) across its operations; one that asks for more is refused whole, before any of
it runs. Within one operation the schema's validation rule holds the same line.

A WebSocket's token arrives in the connection_init payload (`Authorization` or
`authorization`, as Apollo's connectionParams send it); a bad one is refused at connection,
4403 on graphql-transport-ws.

Subscriptions stream over a WebSocket, or over HTTP as Apollo Client's multipart
subscriptions (`Accept: multipart/mixed;subscriptionSpec="1.0"`) and graphql-sse (`Accept:
text/event-stream`, distinct connections mode): one subscription per request, with the same
context, authentication (the Authorization header) and limits as any other request. A
subscription asking for a plain JSON answer is refused.

A request refused before execution (a body that cannot be read, a subscription without a
stream to send it on) is answered in GraphQL's error shape with its code, not Strawberry's
plain text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import HTTPMethod
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from app.connections import (
    CURRENT,
    HTTP_STREAM_KEY,
    SCOPE_KEY,
    WEBSOCKET_CONNECTIONS,
    ConnectionActivity,
    HTTPStream,
    http_stream_of,
)
from app.endpoints.graphiql import graphiql_page
from app.endpoints.graphql_ws import LegacyWSHandler, TransportWSHandler
from app.endpoints.http_subscriptions import SubscriptionStreamResponse, ends_by_itself
from app.endpoints.request_context import connection_context, request_context
from app.endpoints.request_json import MalformedJSON, json_object_or_batch, loads
from app.settings import ServerSettings
from resolvers.context import RequestContext
from schema.credential_limit import ONE_CREDENTIAL_MUTATION, credential_mutations
from schema.schema import ReactorSchema

SUBSCRIPTIONS_OVER_HTTP = (
    "Subscriptions are served over a WebSocket at /graphql "
    "(subprotocol graphql-transport-ws or graphql-ws), or streamed over HTTP to a request that "
    'accepts text/event-stream (graphql-sse) or multipart/mixed;subscriptionSpec="1.0"; '
    "not as one JSON response."
)
# A GET may be repeated by any proxy and its URL is logged along the way: it never starts a
# turn, whatever it accepts.
SUBSCRIPTION_BY_GET = "A GET does not start a subscription; send it with POST. " + (
    SUBSCRIPTIONS_OVER_HTTP
)
SUBSCRIPTION_PROTOCOLS = (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
    GRAPHQL_SSE_PROTOCOL,
)


def refusal(message: str, status: int) -> JSONResponse:
    code = "NOT_FOUND" if status == 404 else "BAD_USER_INPUT"
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status)


def _header_from(params: Any) -> str | None:
    if not isinstance(params, dict):
        return None
    value = params.get("Authorization", params.get("authorization"))
    return value if isinstance(value, str) else None


class GraphQLView(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: ReactorSchema, server: ServerSettings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if server.graphiql else None,
            allow_queries_via_get=server.graphiql,
            connection_init_wait_timeout=timedelta(seconds=server.connection_init_timeout),
            max_subscriptions_per_connection=server.max_subscriptions_per_connection,
            allowed_origins=server.allowed_origins,
            subscription_protocols=SUBSCRIPTION_PROTOCOLS,
        )
        self.max_query_tokens = server.max_query_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # From the start, so that a shutdown coming at any point finds it; used only if
            # the response turns out to be a stream.
            scope.setdefault("state", {})[HTTP_STREAM_KEY] = HTTPStream()
            try:
                response = await self.run(Request(scope, receive))
            except HTTPException as exc:
                response = refusal(exc.reason, exc.status_code)
            await response(scope, receive, send)
            return
        # The server's WebSocket protocol finds the activity in the scope state on shutdown;
        # the operation extension finds it through the context variable.
        activity = ConnectionActivity()
        scope.setdefault("state", {})[SCOPE_KEY] = activity
        reset = CURRENT.set(activity)
        WEBSOCKET_CONNECTIONS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            WEBSOCKET_CONNECTIONS.dec()
            CURRENT.reset(reset)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: RequestContext,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        # A batch's operations run concurrently on one context; only here is the whole known.
        if isinstance(request_data, list) and (
            sum(
                credential_mutations(data.query, data.operation_name, self.max_query_tokens)
                for data in request_data
            )
            > 1
        ):
            refusal = GraphQLError(ONE_CREDENTIAL_MUTATION, extensions={"code": "BAD_USER_INPUT"})
            return [ExecutionResult(data=None, errors=[refusal]) for _ in request_data]
        streamed = not isinstance(request_data, list) and request_data.protocol != "http"
        if streamed and request.method == "GET":
            raise HTTPException(400, SUBSCRIPTION_BY_GET)
        stream = http_stream_of(request.scope)
        if stream is not None and streamed and not isinstance(request_data, list):
            # Known before it runs, for a shutdown that may come while it streams (parsed
            # again here: only for a stream, which lasts far longer than a parse).
            stream.ends_by_itself = ends_by_itself(
                request_data.query, request_data.operation_name, self.max_query_tokens
            )
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()

    async def create_streaming_response(
        self,
        request: Request | WebSocket,
        stream: Callable[[], AsyncIterator[str]],
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        transport = self._get_stream_transport_from_headers(request.headers)
        http_stream = http_stream_of(request.scope)
        if transport is None or http_stream is None:  # an incremental (@defer) response
            return await super().create_streaming_response(request, stream, sub_response, headers)
        return SubscriptionStreamResponse(
            stream(),
            headers={**sub_response.headers, **headers},
            ending=transport.encode_complete(),
            draining=None if http_stream.ends_by_itself else http_stream.draining,
        )

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """Strawberry's response, its body encoded by orjson: a page of 100 messages took
        json.dumps about 5% of the request's CPU. Only HTTP bodies: the WebSocket protocols
        keep `encode_json`, whose text becomes a text frame."""
        response = Response(orjson.dumps(response_data), media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    def parse_json(self, data: str | bytes) -> Any:
        """A request body (or a GET parameter): an object or a batch of them, else a 400."""
        try:
            return json_object_or_batch(data)
        except MalformedJSON as exc:
            raise HTTPException(400, str(exc)) from None

    def decode_json(self, data: str | bytes) -> object:
        """A WebSocket message: what cannot be read counts as not JSON (closed 4400)."""
        try:
            return loads(data)
        except MalformedJSON as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Strawberry would run a subscription here as a query, once, and answer its null
        # data with a 200. A subscription streamed over HTTP (multipart, SSE) never comes
        # through here: one that does asked for a single JSON answer, and is refused.
        method: HTTPMethod = request_adapter.method
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        if method == "GET" and not self.allow_queries_via_get:
            allowed.discard(OperationType.QUERY)
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTIONS_OVER_HTTP) from exc
            raise HTTPException(400, exc.as_http_error_reason(method)) from exc
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request.") from exc

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        if isinstance(request, Request):
            return await request_context(request)
        return connection_context(request)

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        params = context.connection_params
        if params is not None and not isinstance(params, dict):
            raise ConnectionRejectionError({"message": "connection_init payload must be an object"})
        await context.authenticate(_header_from(params))
        if context.token_error is not None:
            raise ConnectionRejectionError({"message": context.token_error.message})
        return await super().on_ws_connect(context)
