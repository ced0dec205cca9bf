"""Putting fleetray on a Ray cluster, the same way on a laptop and on KubeRay: the whole system is
one Serve config (the system application, the API with its model deployments, the no-op
reference), deployed through Serve's REST API as `serve deploy` does it. Scaling changes the
system controller's user_config in the deployed config; undeploying removes fleetray's
applications and actors and leaves the cluster's others alone.

The config comes from the stack settings (serve_config) or from a file in the same format
(cluster/serve_config.yaml); deploying one merges its applications into what the cluster runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

import ray
from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

from actors.entity_runtime import SHARD_MARK
from actors.topology import actor, actor_names
from cluster.settings import StackSettings
from cluster.system_app import CONTROLLER, SYSTEM_APP, Scale, SystemArgs, stop_and_remove
from ml.deployments import API_APP
from serve_apps.api_args import ApiArgs

log = logging.getLogger(__name__)

NOOP_APP = "noop"
FLEETRAY_APPS = (SYSTEM_APP, API_APP, NOOP_APP)
DEPLOY_TIMEOUT_SECONDS = 300.0
ScaleRole = Literal["booking-shards", "vehicle-shards", "relays", "consumers"]
SCALE_FIELDS: dict[str, str] = {"booking-shards": "booking_shards", "vehicle-shards": "vehicle_shards",
                                "relays": "outbox_relays", "consumers": "consumers_per_group"}


class DeployError(Exception):
    """An application did not come up (its status message says why)."""


def system_args(settings: StackSettings) -> SystemArgs:
    return SystemArgs(
        database_url=settings.database_url, kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        model_registry_uri=settings.model_registry_uri, entity_idle_seconds=settings.entity_idle_seconds,
        alert_rules=settings.alert_rules, relay_batch_size=settings.relay_batch_size,
        relay_poll_seconds=settings.relay_poll_seconds, maintenance_sweep_seconds=settings.maintenance_sweep_seconds,
        delivery_grace_seconds=settings.delivery_grace_seconds, otlp_endpoint=settings.otel_exporter_otlp_endpoint)


def api_args(settings: StackSettings) -> ApiArgs:
    return ApiArgs(database_url=settings.database_url, model_registry_uri=settings.model_registry_uri,
                   auth=settings.auth, webhook_secrets=settings.webhook_secrets,
                   otlp_endpoint=settings.otel_exporter_otlp_endpoint,
                   **({} if settings.rate_limits is None else {"rate_limits": settings.rate_limits}))


def system_app_config(settings: StackSettings) -> dict[str, Any]:
    scale = Scale(booking_shards=settings.booking_shards, vehicle_shards=settings.vehicle_shards,
                  outbox_relays=settings.outbox_relays, consumers_per_group=settings.consumers_per_group)
    return {"name": SYSTEM_APP, "route_prefix": None, "import_path": "cluster.system_app:build_system_app",
            "args": system_args(settings).model_dump(mode="json"),
            "deployments": [{"name": CONTROLLER, "user_config": scale.model_dump()}]}


def serve_config(settings: StackSettings, apps: tuple[str, ...] = FLEETRAY_APPS) -> dict[str, Any]:
    """The Serve config of the whole system from the settings (which must name the database and
    the broker), or of only `apps` of it."""
    applications = {
        SYSTEM_APP: system_app_config(settings),
        API_APP: {"name": API_APP, "route_prefix": "/", "import_path": "serve_apps.app:build_api_app",
                  "args": api_args(settings).model_dump(mode="json")},
        NOOP_APP: {"name": NOOP_APP, "route_prefix": "/noop", "import_path": "serve_apps.app:build_noop_app"},
    }
    return {"proxy_location": "EveryNode",
            "http_options": {"host": settings.http_host, "port": settings.http_port},
            "applications": [applications[name] for name in apps]}


class ServeCluster:
    """fleetray's applications on one cluster, through its dashboard's Serve REST API."""

    def __init__(self, dashboard_url: str):
        self.client = ServeSubmissionClient(dashboard_url if "://" in dashboard_url else f"http://{dashboard_url}")

    def deployed(self) -> dict[str, Any]:
        """The cluster's Serve config as deployed now, every application's included."""
        details = self.client.get_serve_details()
        apps = [app["deployed_app_config"] for app in details.get("applications", {}).values()
                if app.get("deployed_app_config")]
        config = {"applications": apps}
        if details.get("http_options"):
            config["http_options"] = {k: details["http_options"][k] for k in ("host", "port")}
        if details.get("proxy_location"):
            config["proxy_location"] = details["proxy_location"]
        return config

    def statuses(self) -> dict[str, dict[str, Any]]:
        return self.client.get_serve_details().get("applications", {})

    def deploy(self, config: dict[str, Any], *, wait: bool = True) -> None:
        """Deploy config's applications beside the ones the cluster runs (a same-named one is
        replaced; Serve restarts only what changed), and wait until they run."""
        current = self.deployed() if self.statuses() else {"applications": []}
        names = {app["name"] for app in config["applications"]}
        merged = {**current, **{k: v for k, v in config.items() if k != "applications"},
                  "applications": [a for a in current["applications"] if a["name"] not in names]
                  + config["applications"]}
        self.client.deploy_applications(merged)
        if wait:
            self.wait_running(sorted(names))

    def wait_running(self, names: list[str], timeout: float = DEPLOY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            apps = self.statuses()
            states = {name: apps.get(name, {}).get("status") for name in names}
            failed = {n: apps[n].get("message", "") for n, s in states.items() if s == "DEPLOY_FAILED"}
            if failed:
                raise DeployError("; ".join(f"{n}: {m}" for n, m in failed.items()))
            if all(s == "RUNNING" for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise DeployError(f"not running after {timeout:.0f} s: {states}")
            time.sleep(1)

    def scale(self, role: ScaleRole, count: int) -> Scale:
        """Change one count of the deployed system and wait until the controller applied it."""
        config = self.deployed()
        system = next((a for a in config["applications"] if a["name"] == SYSTEM_APP), None)
        if system is None:
            raise DeployError("fleetray is not deployed on this cluster")
        deployments = system.setdefault("deployments", [])
        controller = next((d for d in deployments if d["name"] == CONTROLLER), None)
        if controller is None:
            controller = {"name": CONTROLLER}
            deployments.append(controller)
        scale = Scale.model_validate({**controller.get("user_config", {}), SCALE_FIELDS[role]: count})
        controller["user_config"] = scale.model_dump()
        self.client.deploy_applications(config)
        self.wait_running([SYSTEM_APP])
        return scale

    async def undeploy(self) -> list[str]:
        """Remove fleetray's applications (the controller first, so that it recreates nothing),
        then its actors; returns the actors' names. Needs ray.init() on the cluster."""
        config = self.deployed()
        config["applications"] = [a for a in config["applications"] if a["name"] not in FLEETRAY_APPS]
        self.client.deploy_applications(config)
        deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
        while any(name in self.statuses() for name in FLEETRAY_APPS) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        return await remove_actors()


async def remove_actors() -> list[str]:
    """Stop the loop actors (relays, consumers, feed, sweep, bridges: each finishes its work
    first) and kill the shards: every named actor of fleetray's namespace."""
    names = actor_names(lambda name: True)

    async def kill(name: str) -> None:
        try:
            ray.kill(actor(name), no_restart=True)
        except ValueError:
            pass
    await asyncio.gather(*(kill(name) if SHARD_MARK in name else stop_and_remove(name) for name in names))
    return names
