"""ASGI middleware: a request id on every request and response, and bearer-token auth.

Pure ASGI (not BaseHTTPMiddleware) because it runs on every request of a hot path.
"""

from __future__ import annotations

import uuid
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_apps.auth import InvalidToken, TokenVerifier
from serve_apps.errors import error_response
from serve_apps.webhooks import PATH_PREFIX as WEBHOOK_PREFIX

PUBLIC_PATHS = frozenset({"/healthz", "/docs", "/openapi.json"})
SIGNED_PREFIXES = (WEBHOOK_PREFIX,)  # no bearer token: each request carries its own signature


class RequestContextMiddleware:
    """Sets scope['state']['request_id'] and ['principal']; answers 401 for a bad token."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier | None):
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
            await send(message)

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
                await response(scope, receive, send_with_id)
                return
        await self.app(scope, receive, send_with_id)
