"""`make bench-cancel`: the cancel endpoint against a no-op Serve endpoint and against a plain
service without actors (tests/bench/plain_cancel.py, on the same PostgreSQL server), side by
side in one run, under the same closed-loop load; plus commit-to-consumer latency.

    .venv/bin/python -m tests.bench.cancel [--ingress direct|proxy] [--duration 15] [--paced-seconds 10]

Prints req/s and p50/p95/p99 for each, the ratios cancel/no-op and cancel/plain, and
commit-to-consumer p50/p99 both under that saturating load and with cancels paced at
--paced-rate per second; writes a latency plot to .fleetray/bench/cancel_latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import ray

from actors.consumers import CONSUMER_EFFECTS
from actors.topology import RAY_NAMESPACE, consumer_name, relay_name
from cluster.broker import free_port, wait_for_port
from cluster.stack import LocalStack
from db.embedded import ensure_database
from db.migrate import apply_migrations
from db.outbox import BOOKING_OUTBOX
from db.pool import create_pool
from serve_apps.auth import issue_token
from tests.bench.cpu_split import CpuSplit, children_cpu_seconds, format_split
from tests.bench.stack import bench_settings, default_state_dir

BENCH_USER = "bench-user"


async def seed_bookings(pool, count: int) -> list[str]:
    """Confirmed bookings inserted in bulk (creation is not what this benchmark measures)."""
    ids = [uuid.uuid4() for _ in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO bookings (id, tenant_id, user_id, resource_id, status, confirmation_code, starts_at, ends_at)
               SELECT id, 'default', $2, 'bench-room', 'confirmed', 'BENCH123', now(), now() + interval '1 day'
                 FROM unnest($1::uuid[]) AS id""", ids, BENCH_USER)
        await conn.execute(
            """INSERT INTO resource_reservations (booking_id, tenant_id, resource_id, starts_at, ends_at)
               SELECT id, 'default', 'bench-room', now(), now() + interval '1 day' FROM unnest($1::uuid[]) AS id""",
            ids)
    return [str(i) for i in ids]


@contextlib.asynccontextmanager
async def plain_service(stack_database_url: str, secret: str, bookings: int):
    """The plain reference service running on a database of its own (migrated the same way) on
    the stack's PostgreSQL server, with `bookings` confirmed bookings; yields its URL and their ids."""
    database_url = await ensure_database(stack_database_url, "fleetray_plain_reference")
    await apply_migrations(database_url)
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        booking_ids = await seed_bookings(pool, bookings)
    finally:
        await pool.close()
    port = free_port()
    service = subprocess.Popen([sys.executable, "-m", "tests.bench.plain_cancel", "--database-url", database_url,
                                "--port", str(port), f"--secret={secret}"])  # a secret may begin with "-"
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port, 30)
        yield f"http://127.0.0.1:{port}", booking_ids
    finally:
        service.terminate()
        service.wait(10)


def load(url: str, args: argparse.Namespace, **extra: str) -> dict:
    """One closed_loop run in its own process, with the CPU each process role spent meanwhile."""
    cmd = [sys.executable, "-m", "tests.bench.closed_loop", "--url", url,
           "--concurrency", str(args.concurrency), "--duration", str(args.duration)]
    if getattr(args, "rate", None):
        cmd += ["--rate", str(args.rate)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", value]
    split = CpuSplit()
    split.start()
    started, children_before = time.monotonic(), children_cpu_seconds()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    generator = {"load generator": children_cpu_seconds() - children_before}
    return {**json.loads(out.stdout), "cpu": split.stop(generator), "wall": time.monotonic() - started}


def summary(name: str, result: dict) -> dict:
    """Throughput and latency of one closed-loop phase (and its CPU split, where load() took one;
    bench_predict's phases have none)."""
    lat = np.array(result["latencies"]) * 1000
    return {"name": name, "requests": len(lat), "rps": len(lat) / result["elapsed"],
            "p50": np.percentile(lat, 50), "p95": np.percentile(lat, 95), "p99": np.percentile(lat, 99),
            "statuses": result["statuses"], "latencies": lat, "cpu": result.get("cpu"), "wall": result.get("wall")}


async def commit_to_consumer(pool, booking_ids: list[str]) -> dict[str, np.ndarray]:
    """Per consumer: time from the cancellation (event occurred_at, set just before COMMIT)
    to the consumer's transaction applying it, in ms."""
    rows = await pool.fetch(
        """SELECT p.consumer, EXTRACT(EPOCH FROM p.processed_at - (o.event_payload->>'occurred_at')::timestamptz) * 1000 AS ms
             FROM booking_outbox o JOIN processed_events p ON p.event_id = o.event_id
            WHERE o.booking_id = ANY($1::uuid[])""", booking_ids)
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r["consumer"], []).append(float(r["ms"]))
    return {k: np.array(v) for k, v in out.items()}


async def wait_consumed(pool, booking_ids: list[str], timeout: float = 30.0) -> dict[str, int]:
    """Wait (up to `timeout`) until each consumer has applied every cancellation's event;
    returns how many each applied, so a lost event shows in the output."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {r["consumer"]: r["n"] for r in await pool.fetch(
            """SELECT p.consumer, count(*) AS n FROM booking_outbox o
                 JOIN processed_events p ON p.event_id = o.event_id
                WHERE o.booking_id = ANY($1::uuid[]) GROUP BY 1""", booking_ids)}
        if (len(counts) == 2 and min(counts.values()) == len(booking_ids)) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


def plot(results: list[dict], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        lat = np.sort(r["latencies"])
        ax.plot(lat, np.arange(1, len(lat) + 1) / len(lat), label=f"{r['name']} ({r['rps']:.0f} req/s)")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("Latency: closed loop of 100 connections, and cancels at a fixed rate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"latency plot: {path}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ingress", choices=["proxy", "direct"], default="direct")
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--bookings", type=int, default=60_000)  # for the cancel phase, and as many for the plain one
    parser.add_argument("--paced-rate", type=float, default=50)
    parser.add_argument("--paced-seconds", type=float, default=10)
    args = parser.parse_args()

    settings = bench_settings(default_state_dir() / "bench", serve_ingress=args.ingress)
    stack = LocalStack(settings)
    print(f"starting the stack (ingress={args.ingress}) ...", flush=True)
    await stack.start()
    try:
        booking_ids = await seed_bookings(stack.pool, args.bookings)
        ids_file = settings.state_dir / "booking_ids.txt"
        ids_file.write_text("\n".join(booking_ids))
        token = issue_token(settings.auth, BENCH_USER)
        cancel_body = json.dumps({"reason": "change_of_plans", "notes": "bench"})
        base = stack.api_url
        print("warming up ...", flush=True)
        warm = argparse.Namespace(concurrency=args.concurrency, duration=min(3.0, args.duration))
        load(f"{base}/noop", warm)
        print(f"no-op endpoint, {args.concurrency} connections, {args.duration:.0f}s ...", flush=True)
        noop = summary("no-op", load(f"{base}/noop", args))
        print(f"cancel endpoint, {args.concurrency} connections, {args.duration:.0f}s ...", flush=True)
        cancel = summary("cancel", load(f"{base}/v1/bookings/{{id}}/cancel", args, method="POST",
                                        body=cancel_body, token=token, ids_file=str(ids_file)))
        used = booking_ids[: cancel["requests"]]
        print(f"cancel endpoint paced at {args.paced_rate:.0f} req/s for {args.paced_seconds:.0f}s "
              "(commit-to-consumer off saturation) ...", flush=True)
        paced_ids = booking_ids[cancel["requests"]:]
        ids_file.write_text("\n".join(paced_ids))
        paced_run = argparse.Namespace(concurrency=args.concurrency, duration=args.paced_seconds, rate=args.paced_rate)
        paced = summary(f"cancel@{args.paced_rate:.0f}/s", load(
            f"{base}/v1/bookings/{{id}}/cancel", paced_run, method="POST", body=cancel_body, token=token,
            ids_file=str(ids_file)))
        cancelled = used + paced_ids[: paced["requests"]]
        consumed = await wait_consumed(stack.pool, cancelled)
        print(f"plain service (no actors), {args.concurrency} connections, {args.duration:.0f}s ...", flush=True)
        async with plain_service(stack.settings.database_url, settings.auth.secret, args.bookings) as (url, ids):
            ids_file.write_text("\n".join(ids))
            plain = summary("plain", load(f"{url}/v1/bookings/{{id}}/cancel", args, method="POST", body=cancel_body,
                                          token=token, ids_file=str(ids_file)))
        refetched, batches = {}, {}
        for name in CONSUMER_EFFECTS:
            stats = await ray.get_actor(consumer_name(name, 0), namespace=RAY_NAMESPACE).stats.remote()
            refetched[name] = stats["refetched"]
            batches[f"consumer {name}"] = f"{stats['applied'] / max(stats['transactions'], 1):.1f} events a transaction"
        for i in range(settings.outbox_relays):
            stats = await ray.get_actor(relay_name(BOOKING_OUTBOX, i), namespace=RAY_NAMESPACE).stats.remote()
            batches[f"relay {i}"] = (f"{stats['published'] / max(stats['claims'] - stats['empty_claims'], 1):.1f} events "
                                     f"a claim, {stats['empty_claims']} of {stats['claims']} claims found none")
        lags = await commit_to_consumer(stack.pool, used)
        paced_lags = await commit_to_consumer(stack.pool, paced_ids[: paced["requests"]])
    finally:
        await stack.stop()

    print(f"\nServe ingress: {args.ingress}; closed loop, {args.concurrency} connections, {args.duration:.0f}s each")
    print(f"{'endpoint':10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for r in (noop, cancel, plain):
        print(f"{r['name']:10} {r['requests']:9d} {r['rps']:8.0f} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f}  {r['statuses']}")
    print(f"ratio cancel/no-op req/s: {cancel['rps'] / noop['rps']:.2f}  (target >= 0.5)")
    print(f"ratio cancel/plain req/s: {cancel['rps'] / plain['rps']:.2f}  (target >= 1.0; the plain service runs "
          f"no relay, consumer or audit)")
    for r in (noop, cancel, plain):
        print(f"CPU by process role, {r['name']} phase ({r['wall']:.0f}s, {r['requests']} requests):")
        print(format_split(r["cpu"], r["wall"], r["requests"]))
    print(f"{paced['name']:10} {paced['requests']:9d} {paced['rps']:8.0f} {paced['p50']:8.1f} "
          f"{paced['p95']:8.1f} {paced['p99']:8.1f}  {paced['statuses']}")
    print(f"events applied by each consumer, of {len(cancelled)} cancellations: {consumed}; "
          f"holes in fetches read again (actors/offset_gaps.py): {refetched}")
    for who, figures in batches.items():
        print(f"batches over the run, {who}: {figures}")
    for label, per_consumer in (("closed loop (saturated)", lags), (f"paced {args.paced_rate:.0f}/s", paced_lags)):
        for consumer, ms in sorted(per_consumer.items()):
            print(f"commit-to-consumer, {label:23} {consumer:20} n={len(ms):5d} "
                  f"p50={np.percentile(ms, 50):6.1f} ms p99={np.percentile(ms, 99):6.1f} ms  (target p99 < 100 ms)")
    plot([noop, cancel, plain, paced], settings.state_dir / "cancel_latency.png")


if __name__ == "__main__":
    asyncio.run(main())
