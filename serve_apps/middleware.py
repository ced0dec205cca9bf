"""ASGI middleware: the request id on every request, a size limit on request bodies,
bearer-token auth and the rate limits of the authenticated caller.

Pure ASGI (not BaseHTTPMiddleware) because it runs on every request of a hot path.
"""

from __future__ import annotations

import re
import uuid
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_apps.api_docs import ASSETS_PATH, DOCS_PATH
from serve_apps.auth import InvalidToken, TokenVerifier
from serve_apps.console import ASSETS_PATH as CONSOLE_ASSETS_PATH, PAGE_PATH, SERVICE_WORKER_PATH
from serve_apps.errors import error_response
from serve_apps.rate_limits import TELEMETRY_VEHICLE, RateLimiter, route_group
from serve_apps.webhooks import PATH_PREFIX as WEBHOOK_PREFIX

PUBLIC_PATHS = frozenset({"/healthz", DOCS_PATH, "/openapi.json", PAGE_PATH, SERVICE_WORKER_PATH})
PUBLIC_PREFIXES = (f"{ASSETS_PATH}/", f"{CONSOLE_ASSETS_PATH}/")  # the console holds no data
SIGNED_PREFIXES = (WEBHOOK_PREFIX,)  # no bearer token: each request carries its own signature
MAX_BODY_BYTES = 64 * 1024
# Telemetry batches (5,000 readings) and model requests (256 instances) need more.
MAX_BULK_BODY_BYTES = 2 * 1024 * 1024
BULK_PATHS = re.compile(r"^(/v1/vehicles/[^/]+/telemetry|/v1/webhooks/.*|/v1/models/[^/]+/predict)$")


def body_limit(path: str) -> int:
    return MAX_BULK_BODY_BYTES if BULK_PATHS.match(path) else MAX_BODY_BYTES


class BodyTooLarge(Exception):
    pass


async def read_limited(receive: Receive, limit: int) -> list[Message]:
    """The request's body messages, refusing (BodyTooLarge) once more than `limit` bytes came."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > limit:
            raise BodyTooLarge
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


class RequestContextMiddleware:
    """Sets scope['state']['request_id'] and ['principal']; answers 401 for a bad token.

    The request id is Serve's: its RequestIdMiddleware, around every Serve app, keeps the
    client's X-Request-ID or generates one, puts it in the request headers and answers with it.
    Outside Serve (the in-process app of some tests) one is generated here."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier | None, rate_limiter: RateLimiter | None):
        self.app = app
        self.verifier = verifier
        self.rate_limiter = rate_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        state = scope.setdefault("state", {})
        state["request_id"] = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex

        path = scope["path"]
        # Before anything reads the body, and before the webhook's signature check: a body is
        # refused by its declared size, or once the bytes sent without one pass the limit.
        limit = body_limit(path)
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response("INVALID_REQUEST", "Content-Length must be a number")(scope, receive, send)
                return
            if int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        elif scope["method"] in ("POST", "PUT", "PATCH"):
            try:
                buffered = await read_limited(receive, limit)
            except BodyTooLarge:
                await _too_large(limit)(scope, receive, send)
                return
            receive = _replay(buffered, receive)

        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES + SIGNED_PREFIXES):
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
            group = route_group(path)
            if group is not None and self.rate_limiter is not None:
                who = state["principal"]
                vehicle = TELEMETRY_VEHICLE.match(path) if group == "telemetry" else None
                refusal = await self.rate_limiter.check(
                    group, who.tenant_id, f"vehicle {vehicle.group(1)}" if vehicle else f"user {who.user_id}")
                if refusal is not None:
                    err = refusal.error()
                    await error_response(err.code, err.message, err.headers)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _too_large(limit: int):
    return error_response("PAYLOAD_TOO_LARGE", f"Request body over {limit} bytes")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives `messages` first, then whatever the connection sends next."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()
    return replayed
