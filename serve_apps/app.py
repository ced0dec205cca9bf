"""Serve application builders, referenced by cluster/serve_config.yaml (`serve deploy`)."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from cluster.settings import StackSettings
from ml.serving import bind_model_servers
from serve_apps.ingress import FleetApi
from serve_apps.noop import NoopApi


def build_api_app(args: dict[str, Any]) -> Application:
    """args: a StackSettings dict (the launcher passes its own; a Serve config passes YAML)."""
    settings = StackSettings.model_validate(args)
    model_servers = bind_model_servers(settings.database_url, settings.model_registry_uri)
    return FleetApi.bind(settings.model_dump(mode="json"), model_servers)


def build_noop_app(args: dict[str, Any] | None = None) -> Application:
    return NoopApi.bind()
