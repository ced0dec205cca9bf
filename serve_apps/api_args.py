"""The API application's arguments: the launcher passes them, a Serve config gives them as YAML."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serve_apps.auth import AuthConfig


class ApiArgs(BaseModel):
    database_url: str
    model_registry_uri: str
    auth: AuthConfig
    # Shared secret per tenant for signed telematics webhooks (serve_apps/webhooks.py).
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
