"""The HTTP ingress: one FastAPI app (auth middleware, error bodies, per-area routers) served
by one Ray Serve deployment. Scale it from the dashboard or the Serve config (num_replicas).

The app is built inside each replica, after the replica has opened its services, so routes and
middleware get them directly rather than through a module-level app object (Serve copies such
an object when it pickles the deployment)."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from actors.gc_tuning import tune_for_many_long_lived_objects
from actors.logs import configure_serve_replica_logging
from actors.tracing import start_tracing
from ml.deployments import DEPLOYMENT_DEFAULTS
from serve_apps import audit_log, bookings, fleet, health, models, predictions, search, streams, vehicles, webhooks
from serve_apps.api_args import ApiArgs
from serve_apps.api_docs import install_api_docs
from serve_apps.console import install_console
from serve_apps.errors import declare_400_for_invalid_requests, install_error_handlers
from serve_apps.middleware import RequestContextMiddleware
from serve_apps.services import Services, open_services


def create_app(services: Services | None = None) -> FastAPI:
    """The FastAPI app; `services` is None only where no request is served (OpenAPI export).

    In a replica that traces (actors/tracing.py), FastAPI's own OpenTelemetry support makes each
    request a server span, continuing a client's traceparent: one span per request, without
    spans of each dependency and of serialisation."""
    app = FastAPI(title="fleetray", version="0.1.0", telemetry={"operation_spans": False},
                  docs_url=None, redoc_url=None)
    app.state.services = services
    install_api_docs(app)
    install_console(app)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, verifier=services.verifier if services else None,
                       rate_limiter=services.rate_limiter if services else None)
    for area in (health, bookings, vehicles, predictions, streams, fleet, search, webhooks, models, audit_log):
        app.include_router(area.router)
    generate_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = declare_400_for_invalid_requests(generate_openapi())
        return app.openapi_schema
    app.openapi = openapi
    return app


@serve.deployment(**DEPLOYMENT_DEFAULTS)
@serve.ingress()
class FleetApi:
    async def __init__(self, args: ApiArgs, model_servers: dict[str, DeploymentHandle]):
        """model_servers: the handle of each model family's deployment (ml/serving.py)."""
        configure_serve_replica_logging()
        start_tracing(args.otlp_endpoint, "api")
        self.services = await open_services(args, model_servers)
        tune_for_many_long_lived_objects()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.services)
