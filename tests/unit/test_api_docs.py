"""serve_apps/api_docs.py: /docs is Swagger UI from the API's own files, no token needed, and
nothing on the page comes from another host."""

import re

import pytest
from fastapi.testclient import TestClient

from serve_apps.ingress import create_app


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def asset_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", page) + re.findall(r"""url: ?["']([^"']+)["']""", page)


def test_the_docs_page_loads_swagger_ui_from_the_api_itself(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = asset_urls(page.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= set(urls)
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]


def test_every_file_the_docs_page_names_is_served_without_a_token(client):
    for url in asset_urls(client.get("/docs").text):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content, url


def test_assets_are_served_with_their_types(client):
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith(
        ("text/javascript", "application/javascript"))
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")


def test_an_asset_that_is_not_there_is_404(client):
    assert client.get("/docs/assets/nothing-here.js").status_code == 404


def test_a_mounted_app_names_its_files_under_its_root_path():
    page = TestClient(create_app(), root_path="/fleet").get("/docs").text
    assert "/fleet/docs/assets/swagger-ui-bundle.js" in page and "/fleet/openapi.json" in page

