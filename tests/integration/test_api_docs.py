"""/docs on the running stack (through Serve's proxy): the page and Swagger UI's files come from
the API deployment; tests/unit/test_api_docs.py has the page's rules."""

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_the_stack_serves_the_docs_page_and_its_files_without_a_token(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        page = await client.get("/docs")
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        spec = await client.get("/openapi.json")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert spec.status_code == 200 and spec.json()["openapi"].startswith("3.1")
