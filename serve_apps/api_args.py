"""The API application's arguments: the launcher passes them, a Serve config gives them as YAML."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serve_apps.auth import AuthConfig
from serve_apps.rate_limits import DEFAULT_RATE_LIMITS, RouteGroupLimits


class ApiArgs(BaseModel):
    database_url: str
    model_registry_uri: str
    auth: AuthConfig
    # Shared secret per tenant for signed telematics webhooks (serve_apps/webhooks.py).
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    # Per route group (serve_apps/rate_limits.py ROUTE_GROUPS); a group left out is not limited.
    rate_limits: dict[str, RouteGroupLimits] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    # Where the API replicas send their spans (OTLP/HTTP base URL); None: no tracing.
    otlp_endpoint: str | None = None
