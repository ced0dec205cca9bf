"""ASGI middleware: the request id on every request, and bearer-token auth.

Pure ASGI (not BaseHTTPMiddleware) because it runs on every request of a hot path.
"""

from __future__ import annotations

import uuid
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_apps.auth import InvalidToken, TokenVerifier
from serve_apps.errors import error_response
from serve_apps.webhooks import PATH_PREFIX as WEBHOOK_PREFIX

PUBLIC_PATHS = frozenset({"/healthz", "/docs", "/openapi.json"})
SIGNED_PREFIXES = (WEBHOOK_PREFIX,)  # no bearer token: each request carries its own signature


class RequestContextMiddleware:
    """Sets scope['state']['request_id'] and ['principal']; answers 401 for a bad token.

    The request id is Serve's: its RequestIdMiddleware, around every Serve app, keeps the
    client's X-Request-ID or generates one, puts it in the request headers and answers with it.
    Outside Serve (the in-process app of some tests) one is generated here."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier | None):
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        state = scope.setdefault("state", {})
        state["request_id"] = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex

        path = scope["path"]
        if path not in PUBLIC_PATHS and not path.startswith(SIGNED_PREFIXES):
            auth = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, token = auth.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token or self.verifier is None:
                    raise InvalidToken("missing bearer token")
                state["principal"] = self.verifier.verify(token.strip())
            except InvalidToken as exc:
                response = error_response("UNAUTHENTICATED", f"Invalid or missing token: {exc}",
                                          headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
