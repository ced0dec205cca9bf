"""Shared fixtures: real PostgreSQL (embedded, restartable), a real broker, a real local Ray
running the whole stack. Session-scoped because each takes seconds to start."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx
import pytest

from db.events import BookingCancelled
from cluster.broker import EmbeddedBroker, ensure_topics, free_port
from cluster.settings import StackSettings
from serve_apps.auth import AuthConfig
from cluster.stack import TOPICS
from db.embedded import ensure_database, start_embedded_postgres, stop_embedded_postgres
from db.migrate import apply_migrations
from db.pool import create_pool
from serve_apps.auth import issue_token


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


async def fresh_database(server) -> str:
    dsn = await ensure_database(server.get_uri(), f"fleetray_test_{uuid.uuid4().hex[:8]}")
    await apply_migrations(dsn)
    return dsn


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
def auth_settings() -> AuthConfig:
    return AuthConfig(algorithm="HS256", secret=TEST_SECRET)


@pytest.fixture(scope="session")
async def stack(state_dir, database_url, broker, auth_settings):
    """The whole stack (Ray, actors, Serve) on the session's database and broker."""
    from cluster.stack import LocalStack

    settings = StackSettings(
        state_dir=state_dir, database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap_servers, http_port=free_port(),
        metrics_port=free_port(), dashboard_port=free_port(), relay_poll_seconds=0.5, demo_fleet=2,
        maintenance_sweep_seconds=3600,  # tests run sweeps themselves (test_vehicle_predictions.py)
        train_missing_models=False,  # tests/integration/test_model_serving.py trains its own
        jwt_secret=auth_settings.secret)
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
    assert await ensure_served_models(model_registry, tmp_path_factory.mktemp("again")) == {}, "already served: no-op"
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


def token_for(auth: AuthConfig, user: str, tenant: str = "default", role: str = "user") -> str:
    return issue_token(auth, user, tenant, role)


@pytest.fixture
async def make_client(stack, auth_settings):
    """make_client(user, tenant=..., role=...) -> an httpx.AsyncClient authenticated as them."""
    clients: list[httpx.AsyncClient] = []

    def make(user: str = "alice", tenant: str = "default", role: str = "user") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=stack.api_url, timeout=30,
            headers={"Authorization": f"Bearer {token_for(auth_settings, user, tenant, role)}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_booking(client: httpx.AsyncClient, resource_id: str | None = None) -> dict:
    response = await client.post("/v1/bookings", json={
        "resource_id": resource_id or unique("car"),
        "starts_at": "2030-12-01T10:00:00Z", "ends_at": "2030-12-03T10:00:00Z"})
    assert response.status_code == 201, response.text
    return response.json()


async def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll an async predicate until it returns a truthy value; fail with the last value."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")


async def consumed_counts(conn: asyncpg.Pool, event_ids: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT consumer, count(*) AS n FROM processed_events WHERE event_id = ANY($1::uuid[]) GROUP BY 1",
        event_ids)
    return {r["consumer"]: r["n"] for r in rows}


async def consumer_stats(name: str) -> dict:
    """The stats() of the booking-events consumer actor `name` (actors/consumers.py)."""
    import ray

    from actors.topology import RAY_NAMESPACE
    from actors.topology import consumer_name
    return await ray.get_actor(consumer_name(name), namespace=RAY_NAMESPACE).stats.remote()


def pg_restart(server) -> None:
    """Restart the embedded server in place (fast shutdown drops every connection)."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=30)


async def insert_event(pool, notes: str = "n") -> dict:
    """A cancelled booking and its outbox row, as the booking entity writes them."""
    booking_id = uuid.uuid4()
    now = datetime.now(timezone.utc)
    await pool.execute(
        """INSERT INTO bookings (id, tenant_id, user_id, resource_id, status, confirmation_code,
                                 starts_at, ends_at, cancelled_at, cancellation_reason)
           VALUES ($1, 't1', 'alice', 'room-9', 'cancelled', 'ABCDEFGH', $2::timestamptz, $2::timestamptz + interval '1 day', $2::timestamptz, 'other')""",
        booking_id, now)
    event = BookingCancelled(booking_id=booking_id, tenant_id="t1", user_id="alice", resource_id="room-9",
                             confirmation_code="ABCDEFGH", cancelled_at=now, reason="other", notes=notes,
                             occurred_at=now).model_dump(mode="json")
    await pool.execute(
        "INSERT INTO booking_outbox (event_id, booking_id, event_type, event_payload) VALUES ($1, $2, $3, $4)",
        uuid.UUID(event["event_id"]), booking_id, "BookingCancelled", event)
    return event
