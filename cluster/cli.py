"""The `fleetray` command: run the stack, issue tokens, flip flags, replay dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from cluster.settings import StackSettings


def _database_url(settings: StackSettings) -> str:
    """DATABASE_URL, else the one the running local stack wrote to stack.json."""
    if settings.database_url:
        return settings.database_url
    stack_file = settings.state_dir / "stack.json"
    if stack_file.exists():
        return json.loads(stack_file.read_text())["database_url"]
    sys.exit("no DATABASE_URL and no running stack (.fleetray/stack.json); start one with `make run`")


async def _run(settings: StackSettings) -> None:
    from cluster.logs import configure_json_logging
    from cluster.stack import LocalStack

    configure_json_logging()
    stack = LocalStack(settings)
    stop = asyncio.Event()
    try:
        await stack.start()
        # After ray.init, which installs its own SIGTERM handler in the driver.
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print("fleetray is running:", flush=True)
        for key, value in stack.urls().items():
            print(f"  {key:26} {value}", flush=True)
        print("Get a token with: .venv/bin/fleetray token --user alice    (Ctrl-C stops everything)",
              flush=True)
        await stop.wait()
    finally:
        print("stopping fleetray ...", flush=True)
        await stack.stop()


async def _flag(settings: StackSettings, name: str, percentage: int | None) -> None:
    from db.flags import get_flag_percentage, set_flag_percentage
    from db.pool import connect

    conn = await connect(_database_url(settings))
    try:
        if percentage is not None:
            await set_flag_percentage(conn, name, percentage)
        print(f"{name}: {await get_flag_percentage(conn, name)}%")
    finally:
        await conn.close()


async def _outbox(settings: StackSettings, which: str, action: str, event_ids: list[str], days: int) -> None:
    from db import outbox
    from db.pool import connect

    table = outbox.OUTBOXES[which]
    conn = await connect(_database_url(settings))
    try:
        if action == "replay":
            moved = await outbox.replay_dead_letters(conn, table, event_ids or None)
            print(f"re-queued {moved} dead-lettered event(s)")
        elif action == "cleanup":
            deleted = await outbox.delete_processed_older_than(conn, table, days)
            print(f"deleted {deleted} processed event(s) older than {days} days")
        else:
            stats = await outbox.outbox_stats(conn, table)
            print(f"unprocessed={stats.size} lag_seconds={stats.lag_seconds:.1f} dead_letters={stats.dlq_size}")
    finally:
        await conn.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetray", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole local stack in the foreground")

    token = sub.add_parser("token", help="print a JWT the running stack accepts")
    token.add_argument("--user", required=True)
    token.add_argument("--tenant", default="default")
    token.add_argument("--role", choices=["user", "operator"], default="user")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")

    flag = sub.add_parser("flag", help="show or set a feature flag's rollout percentage")
    flag.add_argument("name", nargs="?", default="enable_booking_cancellation")
    flag.add_argument("--percentage", type=int, choices=range(0, 101), metavar="0-100")

    out = sub.add_parser("outbox", help="outbox status, dead-letter replay, cleanup")
    out.add_argument("action", choices=["status", "replay", "cleanup"])
    out.add_argument("--outbox", choices=["bookings", "alerts"], default="bookings",
                     help="booking events (default) or vehicle alerts")
    out.add_argument("--event-id", action="append", default=[], help="replay only these (repeatable)")
    out.add_argument("--older-than-days", type=int, default=30)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = StackSettings.from_env()
    if args.command == "run":
        asyncio.run(_run(settings))
    elif args.command == "token":
        from serve_apps.auth import issue_token

        print(issue_token(settings.auth, args.user, args.tenant, args.role, args.ttl))
    elif args.command == "flag":
        asyncio.run(_flag(settings, args.name, args.percentage))
    elif args.command == "outbox":
        asyncio.run(_outbox(settings, args.outbox, args.action, args.event_id, args.older_than_days))


if __name__ == "__main__":
    main()
