"""Row-level security below the API (migration 0005, db/tenancy.py): on a database holding two
tenants' rows, a tenant-scoped connection sees only its own rows in every table, even when it
asks for the other tenant's by name; the tenant role without a tenant sees nothing."""

from datetime import datetime, timezone

import asyncpg
import pytest

from db.migrate import apply_migrations
from db.tenancy import TENANT_ROLE, tenant_scope
from tests.helpers import fresh_database, unique

pytestmark = pytest.mark.integration

RLS_TABLES = ("vehicles", "telemetry", "dtc_history", "vehicle_alerts")
AT = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


async def insert_tenant_rows(pool, tenant_id: str) -> None:
    """One row per RLS table, written as the owner (the way the vehicle actors write)."""
    vehicle_id = unique(tenant_id)
    await pool.execute("INSERT INTO vehicles (id, tenant_id, name) VALUES ($1, $2, 'Van')", vehicle_id, tenant_id)
    await pool.execute("""INSERT INTO telemetry (vehicle_id, tenant_id, pid, value, captured_at)
                          VALUES ($1, $2, 'RPM', 900, $3)""", vehicle_id, tenant_id, AT)
    await pool.execute("""INSERT INTO dtc_history (vehicle_id, tenant_id, code, description, first_seen, last_seen)
                          VALUES ($1, $2, 'P0300', 'Random misfire', $3, $3)""", vehicle_id, tenant_id, AT)
    await pool.execute("""INSERT INTO vehicle_alerts (vehicle_id, tenant_id, key, severity, message, raised_at)
                          VALUES ($1, $2, 'coolant', 'critical', 'hot', $3)""", vehicle_id, tenant_id, AT)


@pytest.fixture(scope="module")
async def tenants(private_pool) -> tuple[str, str]:
    a, b = unique("tenant-a"), unique("tenant-b")
    for tenant_id in (a, b, a):
        await insert_tenant_rows(private_pool, tenant_id)
    return a, b


async def tenants_visible(conn, table: str) -> list[tuple[str, int]]:
    return [tuple(r) for r in await conn.fetch(
        f"SELECT tenant_id, count(*) FROM {table} GROUP BY tenant_id ORDER BY tenant_id")]


@pytest.mark.parametrize("table", RLS_TABLES)
async def test_a_scope_sees_only_its_tenants_rows(private_pool, tenants, table):
    a, b = tenants
    assert await tenants_visible(private_pool, table) == [(a, 2), (b, 1)]  # the owner sees both
    async with tenant_scope(private_pool, a) as conn:
        assert await tenants_visible(conn, table) == [(a, 2)]
    async with tenant_scope(private_pool, b) as conn:
        assert await tenants_visible(conn, table) == [(b, 1)]


@pytest.mark.parametrize("table", RLS_TABLES)
async def test_asking_for_another_tenant_by_name_finds_nothing(private_pool, tenants, table):
    a, b = tenants
    async with tenant_scope(private_pool, a) as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", b) == 0


@pytest.mark.parametrize("table", RLS_TABLES)
async def test_the_tenant_role_without_a_tenant_sees_nothing(private_pool, tenants, table):
    async with private_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {TENANT_ROLE}")
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_a_scope_cannot_write(private_pool, tenants):
    a, _ = tenants
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_scope(private_pool, a) as conn:
            await conn.execute("INSERT INTO vehicles (id, tenant_id, name) VALUES ('x', $1, 'X')", a)


async def test_a_scope_ends_with_its_transaction(private_pool, tenants):
    """Pooled connections skip the session reset, so nothing of the scope may outlive it."""
    a, b = tenants
    async with private_pool.acquire() as conn:
        async with tenant_scope(conn, a) as scoped:
            assert scoped is conn
            assert await conn.fetchval("SELECT current_user") == TENANT_ROLE
        assert await conn.fetchval("SELECT current_user") != TENANT_ROLE
        assert await tenants_visible(conn, "vehicles") == [(a, 2), (b, 1)]


async def test_migrations_apply_to_another_database_of_the_cluster_and_rerun_as_a_no_op(embedded_postgres, private_database_url):
    """The tenant role already exists (created by the module's database): a second database
    still migrates, and running the migrations again applies nothing."""
    dsn = await fresh_database(embedded_postgres)
    assert await apply_migrations(dsn) == []
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM schema_migrations WHERE version = '0005_row_level_security'") == 1
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname = ANY($1) AND relrowsecurity AND relforcerowsecurity",
            list(RLS_TABLES)) == len(RLS_TABLES)
    finally:
        await conn.close()
