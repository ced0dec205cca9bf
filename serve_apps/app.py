"""Serve application builders, referenced by cluster/serve_config.yaml (`serve deploy`).

No `from __future__ import annotations` here: Serve reads the builder's annotation to validate
a Serve config's `args` into ApiArgs, which a string annotation would hide from it."""

from ray.serve import Application

from ml.serving import bind_model_servers
from serve_apps.api_args import ApiArgs
from serve_apps.ingress import FleetApi
from serve_apps.noop import NoopApi


def build_api_app(args: ApiArgs) -> Application:
    """Each deployment bound with only what it needs: the model servers their registry, the
    API its arguments and the model servers' handles."""
    model_servers = bind_model_servers(args.database_url, args.model_registry_uri)
    return FleetApi.bind(args, model_servers)


def build_noop_app(args: dict | None = None) -> Application:
    return NoopApi.bind()
