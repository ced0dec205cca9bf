"""`make load-test`: start a stack, run the Locust scenario headless (1000 users by default),
then check that every cancellation produced exactly one event and that each consumer applied
each event exactly once. Exits non-zero when a check fails.

    .venv/bin/python -m tests.load.run_locust [--users 1000] [--spawn-rate 100] [--run-time 60s]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from cluster.stack import LocalStack
from tests.bench.stack import bench_settings, default_state_dir
from tests.load.scenario import LOAD_TEST_USER_PREFIX

CONSUMERS = ("notifications", "property-management")


async def check_events(pool, since, timeout: float = 120) -> bool:
    """Wait for the outbox to drain and the consumers to catch up, then compare counts for the
    bookings the load test created since `since`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await pool.fetchrow(
            """SELECT
                 (SELECT count(*) FROM bookings WHERE user_id LIKE $1 AND created_at >= $2 AND status = 'cancelled') AS cancelled,
                 (SELECT count(*) FROM booking_outbox o JOIN bookings b ON b.id = o.booking_id
                   WHERE b.user_id LIKE $1 AND b.created_at >= $2) AS events,
                 (SELECT count(DISTINCT o.booking_id) FROM booking_outbox o JOIN bookings b ON b.id = o.booking_id
                   WHERE b.user_id LIKE $1 AND b.created_at >= $2) AS booked_events,
                 (SELECT count(*) FROM booking_outbox WHERE processed_at IS NULL) AS unpublished,
                 (SELECT count(*) FROM booking_outbox_dlq) AS dead""", LOAD_TEST_USER_PREFIX + "%", since)
        applied = {c: await pool.fetchval(
            """SELECT count(*) FROM processed_events p JOIN booking_outbox o ON o.event_id = p.event_id
                JOIN bookings b ON b.id = o.booking_id
                WHERE p.consumer = $1 AND b.user_id LIKE $2 AND b.created_at >= $3""",
            c, LOAD_TEST_USER_PREFIX + "%", since) for c in CONSUMERS}
        done = row["unpublished"] == 0 and all(n == row["events"] for n in applied.values())
        if done or time.monotonic() >= deadline - 1:
            print(f"\ncancelled bookings: {row['cancelled']}  events: {row['events']} "
                  f"(bookings with an event: {row['booked_events']})  unpublished: {row['unpublished']}  "
                  f"dead letters: {row['dead']}  applied: {applied}")
            ok = (done and row["events"] == row["cancelled"] == row["booked_events"] and row["dead"] == 0)
            print("CHECK", "PASSED: every cancellation produced exactly one event, applied once by each consumer"
                  if ok else "FAILED")
            return ok
        await asyncio.sleep(1)
    return False


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--spawn-rate", type=float, default=100)
    parser.add_argument("--run-time", default="60s")
    args = parser.parse_args()

    # The default rate limits: each of the scenario's users keeps well within a user's rate.
    settings = bench_settings(default_state_dir() / "loadtest", rate_limits=None)
    stack = LocalStack(settings)
    print("starting the stack ...", flush=True)
    await stack.start()
    try:
        since = await stack.pool.fetchval("SELECT now()")
        report = settings.state_dir / "locust"
        cmd = [str(Path(sys.executable).with_name("locust")), "-f", "tests/load/locustfile.py", "--headless",
               "--host", stack.api_url, "-u", str(args.users), "-r", str(args.spawn_rate),
               "--run-time", args.run_time, "--only-summary", "--csv", str(report), "--html", f"{report}.html"]
        env = {**os.environ, "FLEETRAY_STATE_DIR": str(settings.state_dir)}
        print("running:", " ".join(cmd), flush=True)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL))
        print(f"Locust report: {report}.html", flush=True)
        ok = await check_events(stack.pool, since)
    finally:
        await stack.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
