"""A do-nothing Serve endpoint: the baseline the benchmarks compare real endpoints with."""

from __future__ import annotations

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse


@serve.deployment(max_ongoing_requests=256,
                  logging_config={"encoding": "JSON", "enable_access_log": False})
class NoopApi:
    async def __call__(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})
