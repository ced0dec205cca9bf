"""Shared fixtures: real PostgreSQL (embedded, restartable), a real broker, a real local Ray
running the whole stack. Session-scoped because each takes seconds to start."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from cluster.broker import EmbeddedBroker, ensure_topics, free_port
from cluster.settings import StackSettings
from cluster.system_app import TOPICS
from db.embedded import start_embedded_postgres, stop_embedded_postgres
from db.pool import create_pool
from serve_apps.auth import AuthConfig
from tests.helpers import fresh_database, token_for
from tests.otlp_receiver import OtlpReceiver


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked runs_last go after all others: the in-memory broker they restart comes back
    empty, and a slow recovery must not be charged to the tests that happen to follow."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)

TEST_SECRET = "test-secret-not-for-production-use-only"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fleetray-state")


@pytest.fixture(scope="session")
def embedded_postgres(state_dir):
    """An embedded server the fault tests may restart; stopped at the end of the session."""
    server = start_embedded_postgres(state_dir)
    yield server
    stop_embedded_postgres(server)


@pytest.fixture(scope="session")
async def database_url(embedded_postgres) -> str:
    """The database the session's stack runs on."""
    return await fresh_database(embedded_postgres)


@pytest.fixture(scope="module")
async def private_database_url(embedded_postgres) -> str:
    """A database no running relay drains: for tests that drive a relay by hand."""
    return await fresh_database(embedded_postgres)


@pytest.fixture(scope="module")
async def private_pool(private_database_url):
    pool = await create_pool(private_database_url, min_size=1, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def pool(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def broker(tmp_path_factory):
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log")
    broker.start()
    await ensure_topics(broker.bootstrap_servers, TOPICS)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def auth_config() -> AuthConfig:
    return AuthConfig(algorithm="HS256", secret=TEST_SECRET)


@pytest.fixture(scope="session")
def otlp_receiver():
    """Where the stack's processes send their spans (tests/integration/test_tracing.py reads them)."""
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
async def stack(state_dir, database_url, broker, auth_config, otlp_receiver):
    """The whole stack (Ray, actors, Serve) on the session's database and broker, traced."""
    from cluster.stack import LocalStack

    settings = StackSettings(
        state_dir=state_dir, database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap_servers, http_port=free_port(),
        metrics_port=free_port(), dashboard_port=free_port(), relay_poll_seconds=0.5, demo_fleet=2,
        delivery_grace_seconds=5,  # test_delivery_audit.py and the broker fault test wait for it
        rate_limits={},  # tests drive one user far over a user's rate; test_rate_limits.py sets its own
        maintenance_sweep_seconds=3600,  # tests run sweeps themselves (test_vehicle_predictions.py)
        train_missing_models=False,  # tests/integration/test_model_serving.py trains its own
        otel_exporter_otlp_endpoint=otlp_receiver.url,
        jwt_secret=auth_config.secret)
    # Ray's processes export their metrics every 10 s by default; the metrics tests wait for them.
    os.environ["RAY_metrics_report_interval_ms"] = "2000"
    stack = LocalStack(settings)
    await stack.start()
    yield stack
    await stack.stop()


@pytest.fixture(scope="session")
async def model_registry(stack, pool):
    from ml.registry import ModelRegistry

    return ModelRegistry(pool, stack.settings.model_registry_uri)


@pytest.fixture(scope="session")
async def served_models(model_registry, tmp_path_factory):
    """family -> version: small models trained, registered and promoted by the code a fresh
    `make run` uses (the session's stack is started without it)."""
    from ml.datasets import FAMILIES
    from ml.defaults import ensure_served_models

    promoted = await ensure_served_models(model_registry, tmp_path_factory.mktemp("models"), size="small",
                                          progress=lambda line: None)
    assert set(promoted) == set(FAMILIES)
    assert await ensure_served_models(model_registry, tmp_path_factory.mktemp("again"), size="small") == {}, \
        "already served: no-op"
    return promoted


@pytest.fixture
async def vehicle_kind(database_url):
    """The vehicle entity kind (pool, telemetry writer, stream rings) on the session's database,
    for driving vehicle entities directly, without Ray."""
    from actors.vehicle import VehicleKind

    kind = VehicleKind()
    await kind.open({"database_url": database_url})
    yield kind
    await kind.close()


@pytest.fixture
def adapter(tmp_path):
    """A running ELM327-emulator process behind a stable link (its `port`), stopped after the test."""
    from device_bridge.emulator import EmulatedAdapter

    emulator = EmulatedAdapter(tmp_path / "obd-adapter")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
async def make_client(stack, auth_config):
    """make_client(user, tenant=..., role=...) -> an httpx.AsyncClient authenticated as them."""
    clients: list[httpx.AsyncClient] = []

    def make(user: str = "alice", tenant: str = "default", role: str = "user") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=stack.api_url, timeout=30,
            headers={"Authorization": f"Bearer {token_for(auth_config, user, tenant, role)}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


