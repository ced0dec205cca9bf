"""What reading a vehicle's engine window costs PostgreSQL (db/vehicles.py), side by side: the
latest trip alone, the latest trip and the 27 earlier days' trips, and the same when the
earlier days' summaries are cached (ml/trip_summaries.py: only their window ends are
looked up).

    DATABASE_URL=postgresql://... .venv/bin/python -m tests.bench.engine_window_cost [--vehicles 20] [--days 60]

It creates a scratch database `engine_window_cost` on that server (dropped at the end) with
the stack's migrations, fills it with `--vehicles` vehicles x `--days` days x 6 trips a day x
128 samples of the 8 bridge PIDs, and prints milliseconds per vehicle for each way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime, timedelta, timezone

import asyncpg

from db import vehicles as repo
from ml.live import LIVE_WINDOWS
from ml.simulator import PIDS, SAMPLE_SECONDS, SAMPLES_PER_DAY
from tests.bench.scratch import scratch_database

SCRATCH = "engine_window_cost"
TRIPS_PER_DAY = 6


async def fill(conn: asyncpg.Connection, vehicles: int, days: int, now: datetime) -> None:
    for v in range(vehicles):
        rows = [(f"v{v}", "t", pid, 1.0, None, now - timedelta(days=day, hours=2 * trip, seconds=-SAMPLE_SECONDS * s))
                for day in range(days) for trip in range(TRIPS_PER_DAY) for s in range(SAMPLES_PER_DAY) for pid in PIDS]
        await conn.copy_records_to_table("telemetry", records=rows)
        print(f"  vehicle {v + 1}/{vehicles}: {len(rows):,} readings", flush=True)
    await conn.execute("ANALYZE telemetry")


async def read_window(conn: asyncpg.Connection, vehicle_id: str, latest: datetime, history: bool, cached: bool) -> None:
    """What the entity's on_window reads for the engine: the earlier days' ends, then the grids
    of the windows the caller does not know."""
    window = LIVE_WINDOWS["engine"]
    ends = [latest]
    if history:
        ends += await repo.last_reading_each_day(conn, vehicle_id, window.pids, latest, window.history_days)
    starts = [end - timedelta(seconds=SAMPLE_SECONDS * (window.samples - 1)) for end in ends if end is not None]
    await repo.telemetry_grids(conn, vehicle_id, window.pids, starts[:1] if cached else starts, SAMPLE_SECONDS,
                               window.samples)


async def main(vehicles: int, days: int, repeats: int) -> None:
    server = os.environ["DATABASE_URL"]
    async with scratch_database(server, SCRATCH) as dsn:
        conn = await asyncpg.connect(dsn)
        now = datetime.now(timezone.utc)
        await fill(conn, vehicles, days, now)
        latest = now + timedelta(seconds=SAMPLE_SECONDS * (SAMPLES_PER_DAY - 1))
        ways = {"latest trip only": (False, False), "latest + 27 earlier days": (True, False),
                "latest + 27 earlier days, summaries cached": (True, True)}
        for name, (history, cached) in ways.items():
            start = time.perf_counter()
            for _ in range(repeats):
                for v in range(vehicles):
                    await read_window(conn, f"v{v}", latest, history, cached)
            print(f"{name:45s} {(time.perf_counter() - start) / (repeats * vehicles) * 1000:6.1f} ms per vehicle")
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.vehicles, args.days, args.repeats))
