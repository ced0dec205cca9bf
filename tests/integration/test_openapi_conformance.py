"""Schemathesis against the real stack's OpenAPI document, as a user and as an operator: for
requests generated from the document (valid and invalid), no 5xx, and every response has a
status, content type and body the document declares. The SSE routes are left out: their
responses never end."""

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from serve_apps.ingress import create_app
from tests.helpers import token_for

pytestmark = pytest.mark.integration

# Enough to reach every parameter's edges in a few minutes on two cores; raise it to probe harder.
EXAMPLES_PER_OPERATION = 25
STREAMS = r"/stream$"

schema = schemathesis.openapi.from_dict(create_app().openapi()).exclude(path_regex=STREAMS)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("role", ["user", "operator"])
@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_generated_requests_get_declared_answers_and_no_5xx(case, role, stack, auth_config):
    headers = {"Authorization": f"Bearer {token_for(auth_config, f'fuzz-{role}', 'fuzz', role)}"}
    case.call_and_validate(base_url=stack.api_url, headers=headers, checks=CHECKS, timeout=30)
