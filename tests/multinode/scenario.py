"""A multi-node run of the whole system with a checker: a real local Ray cluster of a head and two
worker nodes (separate raylets, ray.cluster_utils.Cluster), fleetray deployed onto it as onto
any cluster (cluster/deploy.py), a steady load of cancellations and telemetry through the API,
and meanwhile the vehicle shards scaled 2 -> 4 -> 3 (watching that no vehicle is live on two
shards), the booking relays 1 -> 3 -> 1, and a worker node killed. Then it checks,
from the database: every cancellation answered 200 applied exactly once by each consumer, every
reading answered 202 stored exactly once; how long the system took to be whole again; and that
undeploying removes fleetray only; and that the metrics agent of each node exports what
its processes counted. It writes what it saw as JSON (tests/integration/
test_multinode.py reads it) and prints its timeline as it goes.

    python -m tests.multinode.scenario --database-url URL --report report.json

A separate program because a process joins one Ray cluster only, and the test session's
process has joined its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import ray
from ray import serve
from ray.cluster_utils import Cluster
from ray.util.state import list_actors

from actors.topology import RAY_NAMESPACE, actor, actor_names
from cluster.broker import EmbeddedBroker, free_port
from cluster.deploy import ServeCluster, serve_config
from cluster.settings import StackSettings
from cluster.stack import node_metrics_url
from serve_apps.auth import issue_token
from tests.acknowledged import AcknowledgingClient, Timeline
from tests.delivery_checks import cancellations_applied, readings_stored
from tests.helpers import metric, watch_for_doubles

TENANT = "multinode"
VEHICLES = [f"mn-van-{i}" for i in range(6)]
CANCEL_PACE_SECONDS = 0.05
READINGS_PACE_SECONDS = 0.1
APPLY_WITHIN_SECONDS = 90.0


class Load:
    """Cancellations and telemetry through the API, each request sent again until answered, with
    what was acknowledged kept for the checker."""

    def __init__(self, api_url: str, token: str):
        self.client = AcknowledgingClient(api_url, token)
        self.cancelled: list[str] = []
        self.readings: list[tuple[str, str, datetime]] = []  # (vehicle, pid, captured_at), each acknowledged
        self.stop = asyncio.Event()

    async def cancellations(self) -> None:
        while not self.stop.is_set():
            booking_id = await self.client.create_booking()
            await self.client.send("POST", f"/v1/bookings/{booking_id}/cancel", {"reason": "other"}, 200)
            self.cancelled.append(booking_id)
            await asyncio.sleep(CANCEL_PACE_SECONDS)

    async def telemetry(self, vehicle_id: str) -> None:
        while not self.stop.is_set():
            at = datetime.now(timezone.utc)
            await self.client.send("POST", f"/v1/vehicles/{vehicle_id}/telemetry", {"readings": [
                {"pid": "RPM", "value": 1500.0, "unit": "revolutions_per_minute", "captured_at": at.isoformat()}]}, 202)
            self.readings.append((vehicle_id, "RPM", at))
            await asyncio.sleep(READINGS_PACE_SECONDS)

    async def run(self) -> None:
        await asyncio.gather(self.cancellations(), *(self.telemetry(v) for v in VEHICLES))


def placement() -> dict[str, str]:
    """Named fleetray actor -> the node it lives on now."""
    return {a.name: a.node_id for a in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
            if a.name and a.ray_namespace == RAY_NAMESPACE}


async def declared_dead_at(node_id: str) -> float:
    """When (time.monotonic) Ray's health checks declared the node dead: Ray restarts the node's
    actors from then on, so the time before it is Ray's detection (its health_check_period_ms
    times health_check_failure_threshold), not fleetray's recovery."""
    while any(n["NodeID"] == node_id and n["Alive"] for n in await asyncio.to_thread(ray.nodes)):
        await asyncio.sleep(0.2)
    return time.monotonic()


async def whole(api_url: str) -> bool:
    """Every named actor answers, and the API is healthy."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            if (await client.get(f"{api_url}/healthz")).status_code != 200:
                return False
        await asyncio.wait_for(asyncio.gather(*(actor(name).stats.remote() if "-shard-" in name or "-relay-" in name
                                                or "-consumer-" in name else actor(name).loop_state.remote()
                                                for name in actor_names(lambda name: True))), 5)
        return True
    except Exception:
        return False


async def scenario(database_url: str, timeline: Timeline) -> dict[str, Any]:
    report: dict[str, Any] = {}
    broker = EmbeddedBroker(log_path=Path(f"/tmp/fleetray-multinode-broker-{uuid.uuid4().hex[:6]}.log"))
    bootstrap = broker.start()
    os.environ["RAY_metrics_report_interval_ms"] = "2000"  # Ray's default 10 s: nodes_exporting waits
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "resources": {"head": 1}, "include_dashboard": True, "dashboard_port": free_port()})
    workers = [cluster.add_node(num_cpus=2, resources={f"worker-{i}": 1}) for i in range(2)]
    cluster.wait_for_nodes()
    timeline(f"cluster up: head and {len(workers)} worker nodes")
    context = ray.init(address=cluster.address, namespace=RAY_NAMESPACE, logging_level=logging.ERROR,
                       log_to_driver=False)
    settings = StackSettings(state_dir=Path(f"/tmp/fleetray-multinode-{uuid.uuid4().hex[:6]}"),
                             database_url=database_url, kafka_bootstrap_servers=bootstrap,
                             http_port=free_port(), metrics_port=free_port(), outbox_relays=1,
                             demo_fleet=0, maintenance_sweep_seconds=0, train_missing_models=False,
                             serve_ingress="proxy")
    config = serve_config(settings)
    config["proxy_location"] = "HeadOnly"  # one HTTP port on this one machine
    api_url = f"http://{settings.http_host}:{settings.http_port}"
    target = ServeCluster(context.dashboard_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await asyncio.to_thread(target.deploy, config)
        timeline("fleetray deployed")
        nodes = placement()
        report["nodes_used"] = len(set(nodes.values()))
        timeline(f"{len(nodes)} named actors on {report['nodes_used']} nodes")

        token = issue_token(settings.auth, "multinode-operator", TENANT, "operator")
        load = Load(api_url, token)
        for vehicle_id in VEHICLES:
            await load.client.send("POST", "/v1/vehicles", {"vehicle_id": vehicle_id, "name": vehicle_id}, 201)
        running = asyncio.ensure_future(load.run())
        await asyncio.sleep(3)
        timeline(f"steady load: {len(load.cancelled)} cancellations, {len(load.readings)} readings so far")

        done = asyncio.Event()
        doubles = asyncio.ensure_future(watch_for_doubles("vehicle", done))
        for shards in (4, 3):
            await asyncio.to_thread(target.scale, "vehicle-shards", shards)
            names = sorted(n for n in actor_names(lambda n: n.startswith("vehicle-shard-")))
            report.setdefault("vehicle_shards_after_scale", []).append(len(names))
            timeline(f"scaled vehicle shards to {shards}: {names}")
            await asyncio.sleep(2)
        done.set()
        report["entities_seen_on_two_shards"] = await doubles

        for relays in (3, 1):
            await asyncio.to_thread(target.scale, "relays", relays)
            booking_relays = sorted(n for n in actor_names(lambda n: "-relay-" in n) if n.startswith("booking"))
            report.setdefault("relays_after_scale", []).append(len(booking_relays))
            timeline(f"scaled relays to {relays}: {booking_relays}")
            await asyncio.sleep(3)

        report["nodes_exporting_readings"] = await nodes_exporting("vehicle_readings_total", at_least=2)
        timeline(f"{report['nodes_exporting_readings']} nodes' metrics agents export stored readings")

        victim = workers[0]
        on_victim = sorted(n for n, node in placement().items() if node == victim.node_id)
        report["actors_on_killed_node"] = len(on_victim)
        timeline(f"killing worker node {victim.node_id[:8]} with {on_victim}")
        failures_before = sum(load.client.failures.values())
        killed_at = time.monotonic()
        cluster.remove_node(victim, allow_graceful=False)
        declared_dead = asyncio.ensure_future(declared_dead_at(victim.node_id))
        while not await whole(api_url):
            if time.monotonic() - killed_at > 120:
                break
            await asyncio.sleep(0.5)
        report["whole_again_seconds"] = round(time.monotonic() - killed_at, 1)
        report["node_declared_dead_seconds"] = round(await declared_dead - killed_at, 1)
        timeline(f"Ray declared the node dead after {report['node_declared_dead_seconds']} s; "
                 f"whole again after {report['whole_again_seconds']} s")
        report["failed_answers_after_kill"] = sum(load.client.failures.values()) - failures_before
        await asyncio.sleep(3)

        load.stop.set()
        await running
        await load.client.aclose()
        report["failed_answers"] = dict(load.client.failures)
        timeline(f"load stopped: {len(load.cancelled)} cancellations, {len(load.readings)} readings acknowledged")
        report["cancellations"] = await cancellations_applied(pool, load.cancelled, APPLY_WITHIN_SECONDS)
        report["readings"] = await readings_stored(pool, TENANT, load.readings)
        timeline(f"checked: {json.dumps({k: report[k] for k in ('cancellations', 'readings')})}")

        report["undeploy"] = await undeploy_leaves_the_rest(target)
        timeline(f"undeployed: {report['undeploy']}")
    finally:
        await pool.close()
        ray.shutdown()
        cluster.shutdown()
        broker.stop()
    report["timeline"] = timeline.events
    return report


@ray.remote
class Bystander:
    """Someone else's actor on the same cluster."""

    def ping(self) -> str:
        return "here"


@serve.deployment
class BystanderApp:
    def __call__(self) -> str:
        return "here"


async def nodes_exporting(name: str, at_least: int, within: float = 30.0) -> int:
    """How many nodes' metrics agents export fleetray's `name` (recorded by processes on that
    node), once at least `at_least` do or `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        urls = [node_metrics_url(node["NodeID"]) for node in ray.nodes() if node["Alive"]]
        exporting = sum([await metric(url, name) is not None for url in urls])
        if exporting >= at_least or time.monotonic() > deadline:
            return exporting
        await asyncio.sleep(1)


async def undeploy_leaves_the_rest(target: ServeCluster) -> dict[str, Any]:
    bystander = Bystander.options(name="bystander", namespace="someone-else", lifetime="detached").remote()
    await bystander.ping.remote()
    serve.run(BystanderApp.bind(), name="bystander", route_prefix="/bystander")
    removed = await target.undeploy()
    return {"removed_actors": len(removed), "fleetray_actors_left": len(actor_names(lambda n: True)),
            "fleetray_apps_left": sorted(set(target.statuses()) & {"system", "api", "noop"}),
            "bystander_actor": await bystander.ping.remote(),
            "bystander_app": serve.status().applications["bystander"].status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    report = asyncio.run(scenario(args.database_url, Timeline()))
    args.report.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
