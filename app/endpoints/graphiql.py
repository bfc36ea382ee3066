"""GraphiQL at /graphql in a browser, from this server alone: the page in app/static/graphiql
and the libraries it runs on, vendored from npm (scripts/vendor_graphiql.sh). Strawberry's
own page loads them from a CDN, which an offline machine (or a strict network) never reaches.

The page is sent with a Content-Security-Policy that allows nothing but this origin (and its
WebSocket, for subscriptions). With GraphiQL off (production) its assets are not served
either: /graphiql/* answers 404.
"""

from __future__ import annotations

from functools import cache

from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from app.endpoints.page import STATIC_DIR, PageHeaders

GRAPHIQL_DIR = STATIC_DIR / "graphiql"
ASSETS_PATH = "/graphiql"

# 'self' covers ws:// and wss:// to this host (CSP Level 3). GraphiQL sets inline styles.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@cache
def _page() -> str:
    return (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8")


def graphiql_page() -> Response:
    return HTMLResponse(
        _page(),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)


def graphiql_assets(enabled: bool) -> Mount:
    """/graphiql/*: the page's script, stylesheet and vendored libraries, when GraphiQL is on."""
    # The same headers as the page: its index.html may also be opened here.
    files = PageHeaders(StaticFiles(directory=GRAPHIQL_DIR), policy=CONTENT_SECURITY_POLICY)
    app = files if enabled else _not_found
    return Mount(ASSETS_PATH, app=app, name="graphiql")
