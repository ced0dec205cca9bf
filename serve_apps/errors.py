"""Error bodies {"error": CODE, "message": ...} and the HTTP status of each code."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.errors import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, DomainError
from db.events import CANCELLATION_REASONS

STATUS_OF_CODE = {
    "INVALID_REQUEST": 400,
    "INVALID_REASON": 400,
    "INVALID_STATUS": 400,
    "UNAUTHENTICATED": 401,
    "UNAUTHORIZED": 403,
    "FORBIDDEN": 403,
    "FEATURE_DISABLED": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "UNAVAILABLE": 503,
}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": ", ".join(c for c, st in STATUS_OF_CODE.items() if st == status),
             "content": {"application/json": {"example": {"error": "CODE", "message": "..."}}}}
    for status in sorted(set(STATUS_OF_CODE.values()))
}


class ApiError(DomainError):
    """A refusal of the HTTP layer itself (a bad token, a disabled feature); the layers below
    raise DomainError, answered the same way."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(code, message)
        self.status = STATUS_OF_CODE[code]
        self.headers = headers


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, STATUS_OF_CODE[code], headers=headers)


WS_POLICY_VIOLATION = 1008  # the WebSocket close code of a refused stream
MAX_CLOSE_REASON = 120  # a close frame's reason holds 123 bytes


async def refuse_socket(websocket: WebSocket, reason: str) -> None:
    """Accept, then close with 1008 and `reason`: a handshake closed before it is accepted is
    answered with HTTP 403 instead of the close frame whose code and reason say why."""
    await websocket.accept()
    await websocket.close(WS_POLICY_VIOLATION, reason=reason[:MAX_CLOSE_REASON])


def validation_error(exc: RequestValidationError | WebSocketRequestValidationError) -> ApiError:
    """Turn pydantic's error list into one 400 body that names the first problem."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return ApiError("INVALID_REQUEST", "Request body is not valid JSON")
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") == "model_attributes_type":
        return ApiError("INVALID_REQUEST", "Request body must be a JSON object (Content-Type: application/json)")
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query"))
    if field == "reason":
        return ApiError("INVALID_REASON", "reason must be one of: " + ", ".join(CANCELLATION_REASONS))
    return ApiError("INVALID_REQUEST", f"{field or 'request'}: {first.get('msg')}")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        # UNAVAILABLE passes (a shard restarting, a model loading): say when to ask again.
        headers = {"Retry-After": "1"} if exc.code == "UNAVAILABLE" else getattr(exc, "headers", None)
        return error_response(exc.code, exc.message, headers)

    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        return error_response("UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE, {"Retry-After": "1"})
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(exc)
        return error_response(err.code, err.message)

    @app.exception_handler(WebSocketRequestValidationError)
    async def _invalid_socket(websocket: WebSocket, exc: WebSocketRequestValidationError) -> None:
        await refuse_socket(websocket, validation_error(exc).message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "INVALID_REQUEST"}.get(exc.status_code, "INVALID_REQUEST")
        # Starlette's 405 carries the Allow header, which the response must keep.
        return JSONResponse({"error": code, "message": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response("INTERNAL_ERROR", "An unexpected error occurred")


def declare_400_for_invalid_requests(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the API answers: FastAPI declares 422 for a request that fails
    validation on every route, where this API answers 400 with its error body (declared in
    ERROR_RESPONSES), so the 422s and their schemas go."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
