"""The local stack: PostgreSQL, the broker and a Ray head where none is given, fleetray deployed
onto that Ray (cluster/deploy.py, as onto any cluster) and the demo fleet, started and stopped
as one.

`fleetray run` (and `make run`) use it in the foreground; tests use it as a fixture.
External services are used when their URL is set (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS,
RAY_ADDRESS); otherwise embedded ones start in the state directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ray

from actors.topology import BRIDGE_PREFIX, RAY_NAMESPACE, vehicle_router
from actors.vehicle import VehicleClient
from cluster.broker import EmbeddedBroker, free_port
from cluster.deploy import FLEETRAY_APPS, ServeCluster, serve_config
from cluster.processes import StartedProcesses
from cluster.settings import StackSettings
from cluster.system_app import SYSTEM_APP, prepare_data_services
from db.embedded import ensure_database, start_embedded_postgres, stop_embedded_postgres
from db.pool import create_pool

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_BRIDGE = f"{BRIDGE_PREFIX}demo"
# Ray Serve's own fast path: direct ingress behind HAProxy, and RAY_SERVE_THROUGHPUT_OPTIMIZED
# (user code and the handle router on the replica's main event loop; its gRPC between deployments
# does not reach handles bound here, which the API's model calls choose themselves: model_client.py).
# The latter saves a thread hop per request, which matters most for model predictions through
# the API (`make bench-predict` measures it). That mode also holds
# replica log records back until 1,000 have gathered; writing each at once costs a file write
# (microseconds) and lets an operator see a request's log line while it matters.
# Direct ingress drains a replica it stops for 30 s by default, for load balancers in front of
# the cluster to take it out; HAProxy on the same machine updates at once, so that the local
# stack (an undeploy, a rolling update) does not wait for nothing.
# HAProxy's `timeout client` (an hour by default) is how long a client may stall, sending
# nothing and taking nothing, before its connection is closed; streams stay busier than 60 s,
# as SSE sends a ping every 15 s and uvicorn's WebSockets every 20 s.
# HAProxy marks a replica down after `fall` health checks in a row went unanswered for 5 s each
# (2 by default) and sends its requests to Serve's proxy, a slower path that queued them for
# tens of seconds: under the load test's 1,000 users a saturated replica answers its health check
# late without being dead. Six (30 s) keeps it; a replica that dies is taken out at once anyway,
# by the connection errors of live traffic (HAProxy's `observe layer4`) and by Serve's controller.
SERVE_FAST_PATH_ENV = {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1",
                       "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1",
                       "RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S": "60", "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
                       "RAY_SERVE_HAPROXY_HEALTH_CHECK_FALL": "6"}
# HAProxy's own metrics and stats listeners default to the fixed ports 9101 and 8404, so a
# second stack on the machine (a benchmark beside `make run`) could not start its HAProxy: each
# stack that starts Ray picks free ones (nothing outside the stack talks to them).
HAPROXY_PORT_VARIABLES = ("RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_HAPROXY_STATS_PORT")


GRAFANA_DASHBOARDS = Path(__file__).parent / "grafana"


def place_grafana_dashboards(session_dir: Path) -> list[Path]:
    """fleetray's Grafana dashboards beside the ones Ray writes for its own session, which a
    Grafana started with Ray's provisioning (session_dir/metrics/grafana) loads."""
    folder = session_dir / "metrics" / "grafana" / "dashboards"
    if not folder.is_dir():  # Ray wrote none (its dashboard is off)
        return []
    return [Path(shutil.copy(dashboard, folder)) for dashboard in sorted(GRAFANA_DASHBOARDS.glob("*.json"))]


def node_metrics_url(node_id: str) -> str:
    """Where the metrics agent of a Ray node serves its processes' metrics, fleetray's with Ray's."""
    node = next(n for n in ray.nodes() if n["NodeID"] == node_id)
    return f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"


class LocalStack:
    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.postgres = None
        self.broker: EmbeddedBroker | None = None
        self.pool = None
        self._ray_connected = False
        self._ray_started_here = False
        self.cluster: ServeCluster | None = None  # once fleetray is deployed on it
        self.metrics_url: str | None = None  # the head node's, once Ray runs
        self.emulators: list = []
        self.trip_replay = None
        self.processes = StartedProcesses()

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    async def start_data_services(self) -> None:
        """PostgreSQL (migrated) and the broker (with topics)."""
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        if s.database_url is None:
            self.postgres = start_embedded_postgres(s.state_dir)
            s = s.model_copy(update={"database_url": await ensure_database(self.postgres.get_uri())})
        if s.kafka_bootstrap_servers is None:
            self.broker = EmbeddedBroker(log_path=s.state_dir / "broker.log")
            s = s.model_copy(update={"kafka_bootstrap_servers": self.broker.start()})
        self.settings = s  # from here on with the services' addresses
        await prepare_data_services(s.database_url, s.kafka_bootstrap_servers)
        self.pool = await create_pool(s.database_url, min_size=1, max_size=2)

    def start_ray(self) -> None:
        s = self.settings
        # Set before Ray starts so every worker process (actors, Serve replicas) inherits it:
        # the uvicorn server of each HTTP replica or proxy reads it.
        worker_env = {"FORWARDED_ALLOW_IPS": s.trusted_proxies}
        os.environ.update(worker_env)
        if s.serve_ingress == "direct":
            os.environ.update(SERVE_FAST_PATH_ENV)
            os.environ.update({variable: str(free_port()) for variable in HAPROXY_PORT_VARIABLES})
        # A head started here gets its metrics agent on the port settings name; a cluster's keep theirs.
        head_ports = ({} if s.ray_address else
                      {"include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": s.dashboard_port,
                       "_metrics_export_port": s.metrics_port})
        context = ray.init(address=s.ray_address, namespace=RAY_NAMESPACE, runtime_env={"env_vars": worker_env},
                           log_to_driver=False, **head_ports)
        self._ray_connected = True
        self._ray_started_here = s.ray_address is None
        self.dashboard_url = f"http://{context.dashboard_url}"
        self.metrics_url = node_metrics_url(ray.get_runtime_context().get_node_id())
        if self._ray_started_here:
            place_grafana_dashboards(Path(context.address_info["session_dir"]))

    async def deploy(self, apps: tuple[str, ...] = FLEETRAY_APPS) -> None:
        """Deploy `apps` of fleetray's Serve config (cluster/deploy.py) and wait until they run."""
        self.cluster = ServeCluster(self.dashboard_url)
        await asyncio.get_running_loop().run_in_executor(None, self.cluster.deploy, serve_config(self.settings, apps))

    async def ensure_models(self) -> None:
        """A promoted version of every model family, trained here first when none exists."""
        from ml.defaults import ensure_served_models
        from ml.registry import ModelRegistry

        s = self.settings
        promoted = await ensure_served_models(ModelRegistry(self.pool, s.model_registry_uri), s.state_dir / "models",
                                              size=s.default_model_size,
                                              progress=lambda line: print(line, flush=True))
        for family, version in promoted.items():
            log.info("serving %s v%d", family, version)

    async def start_demo_fleet(self) -> None:
        """ELM327-emulator adapters (owned by this process) replaying simulated trips, their
        vehicles registered in tenant "demo", and a bridge actor reading them."""
        from device_bridge.bridge import DeviceBridgeActor
        from device_bridge.emulator import EmulatedAdapter
        from device_bridge.registration import ensure_vehicle
        from device_bridge.trip_replay import TripReplay

        s = self.settings
        links = s.state_dir / "adapters"
        links.mkdir(parents=True, exist_ok=True)
        vehicles = VehicleClient(vehicle_router())
        adapters = []
        for i in range(1, s.demo_fleet + 1):
            emulator = EmulatedAdapter(links / f"demo-{i}")
            await asyncio.get_running_loop().run_in_executor(None, emulator.start)
            self.emulators.append(emulator)
            vehicle_id = f"demo-{i}"
            if await ensure_vehicle(vehicles, vehicle_id, DEMO_TENANT, f"Demo car {i}",
                                    {"port": emulator.port, "emulated": True}):
                # new pads as it joins, so the brakes model has a distance to work from
                await vehicles.record_pad_change(vehicle_id, tenant_id=DEMO_TENANT,
                                                 changed_at=datetime.now(timezone.utc))
            adapters.append({"vehicle_id": vehicle_id, "port": emulator.port})
        self.trip_replay = await asyncio.get_running_loop().run_in_executor(None, TripReplay, self.emulators)
        self.trip_replay.start()
        DeviceBridgeActor.options(name=DEMO_BRIDGE, namespace=RAY_NAMESPACE, lifetime="detached",
                                  get_if_exists=True).remote(DEMO_TENANT, adapters)

    async def start(self) -> None:
        await self.start_data_services()
        self.start_ray()
        await self.deploy((SYSTEM_APP,))  # the shards first: the demo fleet registers its vehicles
        if self.settings.demo_fleet:
            await self.start_demo_fleet()
        if self.settings.train_missing_models:
            await self.ensure_models()  # before the model deployments start, so they serve one
        await self.deploy()
        self.write_stack_file()

    def urls(self) -> dict[str, Any]:
        s = self.settings
        return {
            "api_url": self.api_url,
            "database_url": s.database_url,
            "kafka_bootstrap_servers": s.kafka_bootstrap_servers,
            "ray_dashboard_url": f"http://127.0.0.1:{s.dashboard_port}",
            "metrics_url": self.metrics_url,
        }

    def write_stack_file(self) -> Path:
        path = self.settings.state_dir / "stack.json"
        path.write_text(json.dumps(self.urls(), indent=2))
        return path

    async def stop(self) -> None:
        try:
            await self._stop_services()
        finally:
            for process in self.processes.end_all():  # what outlived the stops (see processes.py)
                log.warning("ended leftover process %s", process)

    async def _stop_services(self) -> None:
        if self._ray_connected:
            if self._ray_started_here:
                ray.shutdown()  # stops the local head and everything on it, Serve included
            else:
                if self.cluster is not None:  # a cluster we joined: remove fleetray from it, only
                    await self.cluster.undeploy()
                ray.shutdown()
        if self.trip_replay is not None:
            self.trip_replay.stop()
        for emulator in self.emulators:
            emulator.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            stop_embedded_postgres(self.postgres)

