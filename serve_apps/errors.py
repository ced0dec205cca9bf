"""Error bodies {"error": CODE, "message": ...} and the HTTP status of each code."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.events import CANCELLATION_REASONS

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
    "INTERNAL_ERROR": 500,
    "UNAVAILABLE": 503,
}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": ", ".join(c for c, st in STATUS_OF_CODE.items() if st == status),
             "content": {"application/json": {"example": {"error": "CODE", "message": "..."}}}}
    for status in sorted(set(STATUS_OF_CODE.values()))
}


class ApiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS_OF_CODE[code]


def unwrap(reply: dict[str, Any], key: str) -> Any:
    """The `key` of an entity's reply, or the reply's domain error raised as an ApiError."""
    if "error" in reply:
        raise ApiError(reply["error"], reply["message"])
    return reply[key]


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, STATUS_OF_CODE[code], headers=headers)


def validation_error(exc: RequestValidationError) -> ApiError:
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
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(exc)
        return error_response(err.code, err.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "INVALID_REQUEST"}.get(exc.status_code, "INVALID_REQUEST")
        return JSONResponse({"error": code, "message": str(exc.detail)}, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response("INTERNAL_ERROR", "An unexpected error occurred")
