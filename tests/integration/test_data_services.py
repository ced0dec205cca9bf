"""Both ways the stack finds its data services: embedded ones, and DATABASE_URL's server."""

import os
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from actors.booking import BookingKind
from cluster.settings import StackSettings
from cluster.stack import LocalStack
from db.embedded import ensure_database
from db.migrate import apply_migrations, migration_files

pytestmark = pytest.mark.integration


async def test_embedded_postgres_and_broker_start_migrated_with_topics(tmp_path):
    stack = LocalStack(StackSettings(state_dir=tmp_path, database_url=None, kafka_bootstrap_servers=None))
    await stack.start_data_services()
    try:
        versions = [r["version"] for r in await stack.pool.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [v for v, _ in migration_files()]
        from aiokafka.admin import AIOKafkaAdminClient
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
        await admin.start()
        assert {"booking-events", "vehicle-alerts"} <= set(await admin.list_topics())
        await admin.close()
        assert await apply_migrations(stack.settings.database_url) == [], "migrations apply once"
    finally:
        await stack.stop()


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="DATABASE_URL not set (.ci/run sets it)")
async def test_database_url_server_runs_migrations_and_the_cancel_transaction():
    dsn = await ensure_database(os.environ["DATABASE_URL"], f"fleetray_ext_{uuid.uuid4().hex[:8]}")
    try:
        await apply_migrations(dsn)
        kind = BookingKind()
        await kind.open({"database_url": dsn})
        booking_id = str(uuid.uuid4())
        entity = await kind.activate(booking_id)
        start = datetime(2026, 12, 1, tzinfo=timezone.utc)
        await entity.handle("create", {"tenant_id": "t", "user_id": "u", "resource_id": "r",
                                       "confirmation_code": "ABCDEFGH", "starts_at": start,
                                       "ends_at": start + timedelta(days=1)})
        reply = await entity.handle("cancel", {"tenant_id": "t", "user_id": "u", "reason": "other", "notes": None})
        assert reply["booking"]["status"] == "cancelled"
        assert await kind.pool.fetchval("SELECT count(*) FROM booking_outbox WHERE booking_id = $1",
                                        uuid.UUID(booking_id)) == 1
        await kind.close()
    finally:
        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1].split("?")[0]}" WITH (FORCE)')
        await conn.close()
