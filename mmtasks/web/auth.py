"""Token auth for every route but /health (an orchestrator's probe reveals nothing).

Bound to loopback the process serves without a token; bound elsewhere it refuses to start
without one (see config.check_bind). The token comes as `Authorization: Bearer <token>`, as
`?token=<token>` (browsers cannot set headers on a WebSocket), or as the cookie the dashboard
gets when it was opened with `?token=`, so its scripts and stylesheets load too.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})
COOKIE = "mm_web_token"


def presented_tokens(scope: Scope) -> list[str]:
    """Return every token the request carries (header, query, cookie)."""
    tokens = []
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        tokens.append(value.strip())
    query = parse_qs(scope.get("query_string", b"").decode())
    tokens.extend(query.get("token", []))
    if "cookie" in headers:
        cookie = SimpleCookie()
        cookie.load(headers["cookie"])
        if COOKIE in cookie:
            tokens.append(cookie[COOKIE].value)
    return tokens


class TokenAuth:
    """ASGI middleware: answer 401 (HTTP) or close 1008 (WebSocket) without the right token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def allowed(self, scope: Scope) -> bool:
        if self.token is None or scope["path"] in OPEN_PATHS:
            return True
        expected = self.token.encode()
        return any(hmac.compare_digest(t.encode(), expected) for t in presented_tokens(scope))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "token required"})
            return
        response = JSONResponse(
            {"error": "token required: send 'Authorization: Bearer <WEB_TOKEN>' or ?token="},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
