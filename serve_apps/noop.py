"""A do-nothing Serve endpoint: the baseline the benchmarks compare real endpoints with."""

from __future__ import annotations

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from ml.deployments import DEPLOYMENT_DEFAULTS


@serve.deployment(**DEPLOYMENT_DEFAULTS)
class NoopApi:
    async def __call__(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})
