"""The fleet console: a static web app (serve_apps/console/) served by the API deployment itself,
so `make run` and `fleetray deploy` ship it with no web server or CDN beside them.

The shell is public (it holds no data: every view asks the API with the bearer token the user
signed in with). The page is at `/`, its files under `/console/`, and its service worker at
`/sw.js` so that it may control the whole origin's pages. Each file is sent with an ETag; the
page and the service worker are revalidated on every load so a deploy reaches open consoles.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

CONSOLE_DIR = Path(__file__).parent / "console"
PAGE_PATH = "/"
SERVICE_WORKER_PATH = "/sw.js"
ASSETS_PATH = "/console"
REVALIDATE = {"Cache-Control": "no-cache"}


def install_console(app: FastAPI) -> None:
    app.mount(ASSETS_PATH, StaticFiles(directory=CONSOLE_DIR), name="console")

    @app.get(PAGE_PATH, include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(CONSOLE_DIR / "index.html", headers=REVALIDATE)

    @app.get(SERVICE_WORKER_PATH, include_in_schema=False)
    async def service_worker() -> FileResponse:
        return FileResponse(CONSOLE_DIR / "sw.js", media_type="text/javascript", headers=REVALIDATE)
