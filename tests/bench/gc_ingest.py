"""What the garbage collector costs a vehicle shard's ingest path, with CPython's default
settings and with actors/gc_tuning.py, measured side by side (each setting in its own process,
alternating, so that machine noise hits both alike).

    .venv/bin/python -m tests.bench.gc_ingest [--vehicles 5000] [--rounds 20] [--repeats 3]

Each round delivers one batch of 5 readings to every vehicle through a real EntityHost and
VehicleEntity, as ShardActor.deliver does; the telemetry writer is replaced by one that holds
every batch 10 ms and then acknowledges it (the group commit's wait, without PostgreSQL), so
the tasks of a round stay alive together as they do in a shard. Prints microseconds per
vehicle message and the collections of each generation with the time they took.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from actors.entity_runtime import EntityHost
from actors.event_ring import RingRegistry
from actors.gc_tuning import tune_for_many_long_lived_objects
from actors.vehicle import Registration, VehicleEntity
from actors.vehicle_rules import AlertRules

WRITE_DELAY = 0.01


class HeldWriter:
    """Acknowledges every write after WRITE_DELAY, all of a flush's writers together."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future] = []

    async def write(self, rows: list[tuple], alerts: list = ()) -> None:
        future = asyncio.get_running_loop().create_future()
        if not self._waiters:
            asyncio.get_running_loop().call_later(WRITE_DELAY, self._flush)
        self._waiters.append(future)
        await future

    def _flush(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.set_result(None)


class InMemoryVehicleKind:
    def __init__(self) -> None:
        self.rules = AlertRules()
        self.writer = HeldWriter()
        self.streams = RingRegistry()

    async def activate(self, vehicle_id: str) -> VehicleEntity:
        return VehicleEntity(vehicle_id, Registration("bench", vehicle_id, None, datetime.now(timezone.utc)), self)


def batch(at: datetime) -> dict:
    return {"tenant_id": "bench", "readings": [
        ("RPM", 1500.0, "revolutions_per_minute", at), ("SPEED", 50.0, "kilometer_per_hour", at),
        ("ENGINE_LOAD", 40.0, "percent", at), ("THROTTLE_POS", 20.0, "percent", at),
        ("COOLANT_TEMP", 90.0, "degree_Celsius", at)]}


async def measure(vehicles: int, rounds: int) -> list[float]:
    host = EntityHost(InMemoryVehicleKind(), idle_seconds=3600)
    ids = [f"veh-{i:05d}" for i in range(vehicles)]
    start = datetime.now(timezone.utc)
    per_message = []
    for n in range(rounds + 1):
        payload = batch(start + timedelta(seconds=n))
        t0 = time.perf_counter()
        await asyncio.gather(*(host.ask(v, "ingest", payload) for v in ids))
        if n:  # round 0 activates the vehicles
            per_message.append((time.perf_counter() - t0) / vehicles * 1e6)
    return per_message


def run_one(setting: str, vehicles: int, rounds: int) -> dict:
    """One setting in this process; returns µs per message per round and the collections."""
    if setting == "tuned":
        tune_for_many_long_lived_objects()
    collections = {g: [0, 0.0] for g in range(3)}
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            collections[info["generation"]][0] += 1
            collections[info["generation"]][1] += time.perf_counter() - started[0]
    gc.callbacks.append(on_gc)
    per_message = asyncio.run(measure(vehicles, rounds))
    return {"per_message": per_message, "collections": collections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--setting", choices=["default", "tuned"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setting:
        print(json.dumps(run_one(args.setting, args.vehicles, args.rounds)))
        return
    results: dict[str, list[dict]] = {"default": [], "tuned": []}
    for repeat in range(args.repeats):
        for setting in results:
            out = subprocess.run([sys.executable, "-m", "tests.bench.gc_ingest", "--setting", setting,
                                  "--vehicles", str(args.vehicles), "--rounds", str(args.rounds)],
                                 check=True, capture_output=True, text=True).stdout
            results[setting].append(json.loads(out))
            r = results[setting][-1]
            print(f"  run {repeat + 1}/{args.repeats} {setting:7s}: median "
                  f"{statistics.median(r['per_message']):5.1f} µs per vehicle message", flush=True)
    print(f"{args.vehicles:,} vehicles, {args.rounds} rounds of 5 readings each, {args.repeats} runs per setting")
    print(" setting   µs/message (median of runs)   collections gen0 / gen1 / gen2 (seconds in them), per run")
    medians = {}
    for setting, runs in results.items():
        medians[setting] = statistics.median(statistics.median(r["per_message"]) for r in runs)
        counts = " / ".join(
            f"{statistics.mean(r['collections'][str(g)][0] for r in runs):.0f} "
            f"({statistics.mean(r['collections'][str(g)][1] for r in runs):.2f} s)" for g in range(3))
        print(f" {setting:8s}  {medians[setting]:10.1f}                    {counts}")
    print(f"tuned / default time per message: {medians['tuned'] / medians['default']:.2f}")


if __name__ == "__main__":
    main()
