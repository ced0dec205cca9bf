"""`make bench-telemetry`: readings per second accepted into vehicle actors and persisted, with
1,000 and 10,000 synthetic vehicles; memory per activated vehicle; and the latency from a
reading's capture by the bridge to its arrival at SSE clients, all in one run on one stack.

    .venv/bin/python -m tests.bench.telemetry [--vehicles 1000 10000] [--rate 100000]
                                                   [--duration 15] [--warmup 3] [--clients 100]

The synthetic bridge offers --rate readings/s through the same batcher and shard routing as
adapter readers. Accepted = acknowledged by the vehicle actors (they acknowledge after the
COPY commits); persisted = rows that arrived in the telemetry table. Memory per vehicle is the
growth of the vehicle shards' resident memory divided by the vehicles activated (after 1,000 others
warmed the shards up). Writes a plot
to .fleetray/bench/telemetry.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timezone

import httpx
import numpy as np
import ray
from httpx_sse import aconnect_sse

from actors.topology import RAY_NAMESPACE, vehicle_router
from cluster.stack import LocalStack
from device_bridge.synthetic import SyntheticBridgeActor
from serve_apps.auth import issue_token
from tests.bench.cpu_split import CpuSplit, format_split
from tests.bench.stack import bench_settings, default_state_dir

TENANT = "bench"
WATCHED_VEHICLES = 10
WARM_UP_VEHICLES = 1000


async def register_fleet(pool, prefix: str, count: int) -> list[str]:
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    await pool.execute(
        """INSERT INTO vehicles (id, tenant_id, name) SELECT id, $2, id FROM unnest($1::text[]) AS id
           ON CONFLICT DO NOTHING""", ids, TENANT)
    return ids


async def shard_rss(router) -> tuple[int, int]:
    stats = await asyncio.gather(*(s.stats.remote() for s in await router.shards()))
    return sum(s["rss_bytes"] for s in stats), sum(s["active"] for s in stats)


async def activate(router, ids: list[str]) -> None:
    for i in range(0, len(ids), 500):
        await asyncio.gather(*(router.ask(v, "get", {"tenant_id": TENANT}) for v in ids[i:i + 500]))


async def sse_client(client: httpx.AsyncClient, vehicle_id: str, latencies: list[float], ready: asyncio.Event,
                     connected: list[int]) -> None:
    async with aconnect_sse(client, "GET", f"/v1/vehicles/{vehicle_id}/stream") as source:
        async for sse in source.aiter_sse():
            if sse.event == "state":
                connected.append(1)
                continue
            if sse.event != "readings" or not ready.is_set():
                continue
            now = datetime.now(timezone.utc)
            for r in json.loads(sse.data)["readings"]:
                latencies.append((now - datetime.fromisoformat(r["captured_at"])).total_seconds() * 1000)


async def phase(stack: LocalStack, args, count: int, rate: float, max_backlog: int | None,
                with_clients: bool) -> dict:
    settings, pool = stack.settings, stack.pool
    router = vehicle_router()
    ids = await register_fleet(pool, f"syn{count}", count)
    # Activation's one-time costs (connections, statement caches, the allocator's first arenas)
    # are not per vehicle: pay them with other vehicles before the measured ones.
    await activate(router, await register_fleet(pool, f"warm{count}", WARM_UP_VEHICLES))
    rss0, active0 = await shard_rss(router)
    await activate(router, ids)
    rss_idle, active_idle = await shard_rss(router)
    idle_per_vehicle = (rss_idle - rss0) / max(1, active_idle - active0)

    latencies: list[float] = []
    ready, connected, tasks = asyncio.Event(), [], []
    client = None
    if with_clients:
        token = issue_token(settings.auth, "bench-viewer", TENANT)
        client = httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=None, limits=httpx.Limits(max_connections=args.clients + 10))
        tasks = [asyncio.ensure_future(sse_client(client, ids[i % WATCHED_VEHICLES], latencies, ready, connected))
                 for i in range(args.clients)]
        while len(connected) < args.clients:
            await asyncio.sleep(0.2)

    bridge = SyntheticBridgeActor.options(namespace=RAY_NAMESPACE).remote(TENANT, ids, rate, max_backlog)
    await bridge.start.remote()
    print(f"  {count} vehicles, offering {rate:,.0f}/s{' while the path keeps up' if max_backlog else ''}"
          f"{f', {args.clients} SSE clients' if with_clients else ''}: warming up {args.warmup:.0f} s ...", flush=True)
    await asyncio.sleep(args.warmup)
    ready.set()
    rows0 = await pool.fetchval("SELECT count(*) FROM telemetry WHERE tenant_id = $1", TENANT)
    s0, t0 = await bridge.stats.remote(), time.monotonic()
    cpu = CpuSplit()
    cpu.start()
    for _ in range(int(args.duration // 5)):
        await asyncio.sleep(5)
        s = await bridge.stats.remote()
        elapsed = time.monotonic() - t0
        print(f"    {elapsed:4.0f}s  accepted {(s['delivered'] - s0['delivered']) / elapsed:8.0f}/s  "
              f"offered {(s['generated'] - s0['generated']) / elapsed:8.0f}/s  dropped {s['dropped']}", flush=True)
    s1, t1 = await bridge.stats.remote(), time.monotonic()
    spent = cpu.stop()
    rows1 = await pool.fetchval("SELECT count(*) FROM telemetry WHERE tenant_id = $1", TENANT)
    ray.kill(bridge)
    for task in tasks:
        task.cancel()
    if client is not None:
        await client.aclose()
    rss_active, active = await shard_rss(router)
    dt = t1 - t0
    return {"vehicles": count, "paced": max_backlog is None, "offered": (s1["generated"] - s0["generated"]) / dt,
            "accepted": (s1["delivered"] - s0["delivered"]) / dt, "persisted": (rows1 - rows0) / dt,
            "dropped": s1["dropped"], "idle_bytes": idle_per_vehicle,
            "active_bytes": (rss_active - rss0) / max(1, active - active0), "latencies": np.array(latencies),
            "cpu": spent, "seconds": dt}


def entity_bytes(count: int = 10_000) -> float:
    """Python heap per idle activated vehicle (entity, its row, mailbox), by tracemalloc:
    the object graph alone, without the allocator and process overhead RSS also counts."""
    import tracemalloc

    from actors.entity_runtime import _Mailbox
    from actors.vehicle import Registration, VehicleEntity
    from actors.vehicle_rules import AlertRules

    kind = type("Kind", (), {"rules": AlertRules()})()
    now = datetime.now(timezone.utc)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    mailboxes = {}
    for i in range(count):
        vehicle_id = f"mem-{i:05d}"
        row = {"id": vehicle_id, "tenant_id": TENANT, "name": vehicle_id, "vin": None, "adapter": {},
               "registered_at": now}
        mailboxes[vehicle_id] = _Mailbox(entity=VehicleEntity(vehicle_id, Registration.from_row(row), kind))
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    return grown / count


def plot(results: list[dict], path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{r['vehicles']:,} vehicles{' (paced)' if r['paced'] else ''}" for r in results]
    x = np.arange(len(results))
    for offset, key in ((-0.25, "offered"), (0, "accepted"), (0.25, "persisted")):
        left.bar(x + offset, [r[key] for r in results], 0.25, label=key)
    left.axhline(50_000, color="grey", linestyle="--", label="target 50,000/s")
    left.set_xticks(x, labels)
    left.set_ylabel("readings / s")
    left.legend()
    for r, label in zip(results, labels):
        if len(r["latencies"]):
            lat = np.sort(r["latencies"])
            right.plot(lat, np.arange(1, len(lat) + 1) / len(lat), label=f"{label}, {r['accepted']:,.0f}/s")
    right.axvline(200, color="grey", linestyle="--", label="target p99 200 ms")
    right.set_xscale("log")
    right.set_xlabel("capture to SSE client (ms)")
    right.set_ylabel("fraction of readings")
    right.legend()
    fig.suptitle("Telemetry ingest (synthetic bridge) and device-to-client latency")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--rate", type=float, default=100_000, help="readings/s the synthetic bridge offers")
    parser.add_argument("--max-backlog", type=int, default=10_000,
                        help="the bridge generates only while fewer readings wait (0: offer --rate regardless)")
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3, help="seconds the bridge feeds before each phase is measured")
    parser.add_argument("--clients", type=int, default=100, help="SSE clients in the latency phases")
    parser.add_argument("--paced-rate", type=float, default=5000,
                        help="readings/s of the latency phase off saturation (1,000 vehicles)")
    args = parser.parse_args()
    args.max_backlog = args.max_backlog or None

    settings = bench_settings(default_state_dir() / "bench")
    stack = LocalStack(settings)
    print("starting the stack ...", flush=True)
    await stack.start()
    try:
        results = [await phase(stack, args, count, args.rate, args.max_backlog, with_clients=(i == 0))
                   for i, count in enumerate(args.vehicles)]
        paced = await phase(stack, args, args.vehicles[0], args.paced_rate, None, with_clients=True)
    finally:
        await stack.stop()

    print(f"\nsynthetic bridge offering {args.rate:,.0f} readings/s, {args.duration:.0f}s per phase")
    print(f"{'vehicles':>9} {'offered/s':>10} {'accepted/s':>11} {'persisted/s':>12} {'dropped':>8} "
          f"{'idle B/veh':>11} {'active B/veh':>13}")
    for r in results:
        print(f"{r['vehicles']:9,d} {r['offered']:10,.0f} {r['accepted']:11,.0f} {r['persisted']:12,.0f} "
              f"{r['dropped']:8d} {r['idle_bytes']:11,.0f} {r['active_bytes']:13,.0f}")
    print(f"(B/veh: growth of the vehicle shards' resident memory per activated vehicle; the object graph "
          f"of an idle vehicle by tracemalloc: {entity_bytes():,.0f} B)")
    print("targets: >= 50,000 readings/s; < 2,048 bytes per idle activated vehicle")
    for r in results:
        readings = int(r["accepted"] * r["seconds"])
        print(f"CPU by process role, {r['vehicles']:,} vehicles ({r['seconds']:.0f}s):")
        print(format_split(r["cpu"], r["seconds"], readings // 1000, unit="1k readings"))
    for r in (results[0], paced):
        lat = r["latencies"]
        if len(lat):
            print(f"capture -> SSE client, {args.clients} clients on {WATCHED_VEHICLES} of {r['vehicles']:,} vehicles, "
                  f"{r['accepted']:,.0f} readings/s: n={len(lat)} p50={np.percentile(lat, 50):.1f} ms "
                  f"p99={np.percentile(lat, 99):.1f} ms (target p99 < 200 ms)")
    plot(results + [paced], settings.state_dir / "telemetry.png")


if __name__ == "__main__":
    asyncio.run(main())
