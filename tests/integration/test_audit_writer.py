"""The background audit writer on a real PostgreSQL: a record the database refuses is dropped
and logged, and the records after it are written, not held behind it."""

import uuid
from datetime import datetime, timezone

import pytest

from db.audit import AuditRecord
from serve_apps.audit_writer import AuditWriter
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def record(user_id: str, booking_id: str) -> AuditRecord:
    return AuditRecord(occurred_at=datetime.now(timezone.utc), action="cancel_booking", tenant_id="t-audit",
                       user_id=user_id, ip_address="127.0.0.1", target_type="booking", target_id=booking_id,
                       outcome="cancelled", request_id=None)


async def test_a_refused_record_does_not_stall_the_ones_after_it(pool):
    writer = AuditWriter(pool)
    bad, later = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    writer.record(record("mallory\x00", bad))
    for booking_id in later:
        writer.record(record("alice", booking_id))

    async def written():
        return await pool.fetchval("SELECT count(*) FROM audit_log WHERE booking_id = ANY($1::text[])", later) == 3
    await wait_until(written, timeout=10)
    assert writer.refused == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE booking_id = $1", bad) == 0
