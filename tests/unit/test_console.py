"""serve_apps/console.py: the console's shell is served by the API itself without a token, every
file it or its service worker names is there, nothing comes from another host, and the page
and service worker are revalidated on each load. The console at work in a browser:
tests/integration/test_console.py."""

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cluster.cli import console_url
from cluster.settings import StackSettings
from serve_apps.console import CONSOLE_DIR
from serve_apps.ingress import create_app


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def page_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"'#]+)["']""", page)


def module_imports(script: str) -> list[str]:
    return re.findall(r"""^import .* from ["']([^"']+)["'];$""", script, re.MULTILINE)


def test_the_page_is_served_at_the_root_without_a_token(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="console/app.js">' in page.text


def test_the_page_and_the_service_worker_are_revalidated_on_every_load(client):
    assert client.get("/").headers["cache-control"] == "no-cache"
    worker = client.get("/sw.js")
    assert worker.headers["cache-control"] == "no-cache"
    assert worker.headers["content-type"].startswith("text/javascript")


def test_every_file_the_page_names_is_served_and_none_from_another_host(client):
    urls = [u for u in page_urls(client.get("/").text) if u != "docs"]
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]
    for url in urls:
        assert client.get(f"/{url}").status_code == 200, url


def test_every_module_the_app_imports_is_served(client):
    seen, waiting = set(), ["console/app.js"]
    while waiting:
        path = waiting.pop()
        response = client.get(f"/{path}")
        assert response.status_code == 200, path
        seen.add(path)
        base = path.rsplit("/", 1)[0]
        for imported in module_imports(response.text):
            target = str(Path(base, imported)).replace("\\", "/")
            target = re.sub(r"[^/]+/\.\./", "", target)
            if target not in seen:
                waiting.append(target)
    assert "console/views/vehicle.js" in seen and "console/charts.js" in seen


def test_every_file_the_service_worker_keeps_for_offline_use_is_served(client):
    worker = client.get("/sw.js").text
    names = re.findall(r'"(console/[^"]+|\./)"', worker)
    views = re.search(r"\[([^\]]+)\]\.map\(\(v\) => `console/views/\$\{v\}\.js`\)", worker).group(1)
    names += [f"console/views/{v}.js" for v in re.findall(r'"(\w+)"', views)]
    on_disk = {p.stem for p in (CONSOLE_DIR / "views").glob("*.js")}
    assert {n.rsplit("/", 1)[1][:-3] for n in names if "/views/" in n} == on_disk
    for name in names:
        assert client.get(f"/{name.removeprefix('./')}").status_code == 200, name


def test_the_manifest_names_installable_icons_that_are_served(client):
    manifest = client.get("/console/manifest.webmanifest").json()
    assert manifest["display"] == "standalone" and manifest["start_url"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert client.get(f"/console/{icon['src']}").status_code == 200, icon["src"]


def test_the_vendored_chart_library_is_the_pinned_release():
    assert (CONSOLE_DIR / "vendor" / "uPlot.iife.min.js").read_text()[:60].startswith(
        "/*! https://github.com/leeoniya/uPlot (v1.6.32) */")


def test_a_console_link_carries_the_token_in_its_fragment(tmp_path):
    settings = StackSettings(state_dir=tmp_path, http_port=8123)
    assert console_url(settings, "abc.def.ghi") == "http://127.0.0.1:8123/#token=abc.def.ghi"
    (tmp_path / "stack.json").write_text(json.dumps({"api_url": "http://10.0.0.5:9000"}))
    assert console_url(settings, "abc.def.ghi") == "http://10.0.0.5:9000/#token=abc.def.ghi"
