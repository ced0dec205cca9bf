"""The audit records of the changes `fleetray` commands make (feature flags, model versions,
bridges, dead-letter replays): who ran the command, on which host, what it changed and how it
ended, written once the change is made or refused. The API audits its own changes
(serve_apps/audited.py)."""

from __future__ import annotations

import getpass
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import asyncpg

from db.audit import EVERY_TENANT, AuditRecord, insert_audit_records


def operator_name() -> str:
    """The command's user: the account that ran it, on the host it ran on."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def change_records(action: str, target_type: str, target_id: str, outcome: str,
                   tenant_ids: Iterable[str] = (EVERY_TENANT,)) -> list[AuditRecord]:
    user, now = operator_name(), datetime.now(timezone.utc)
    return [AuditRecord(occurred_at=now, action=action, tenant_id=tenant, user_id=user, ip_address=None,
                        target_type=target_type, target_id=target_id, outcome=outcome, request_id=None)
            for tenant in tenant_ids]


@asynccontextmanager
async def audited_change(conn: asyncpg.Connection, action: str, target_type: str, target_id: str,
                         tenant_ids: Iterable[str] = (EVERY_TENANT,)) -> AsyncIterator[None]:
    """Record `action` on the target for each tenant it touches once the block ends: "ok", or
    the class of the exception that ended it (which goes on)."""
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = type(exc).__name__
        raise
    finally:
        await insert_audit_records(conn, change_records(action, target_type, target_id, outcome, tenant_ids))
