"""A fault soak with a checker: mixed load through the API (tests/soak/load.py) and a synthetic
bridge, while a seeded schedule kills shards, relays, consumers, an API replica and the bridge
and restarts the broker and PostgreSQL (tests/soak/faults.py). Then it checks, from the
database, that everything acknowledged was kept (tests/delivery_checks.py), prints the counts
and the fault timeline, writes them as JSON, and exits 1 on any violation.

    make soak                      # 10 minutes on a stack of its own
    python -m tests.soak.run --minutes 30 --seed 7 --report .fleetray/soak/report.json

tests/integration/test_soak.py runs two minutes of it against the test session's stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg

from actors.topology import BRIDGE_PREFIX, RAY_NAMESPACE
from cluster.broker import ensure_topics
from cluster.system_app import TOPICS
from device_bridge.synthetic import SyntheticBridgeActor
from serve_apps.auth import AuthConfig, issue_token
from tests.acknowledged import AcknowledgingClient, Timeline
from tests.delivery_checks import (
    alerts_raised, cancellations_applied, outboxes_left, readings_stored,
)
from tests.soak.faults import FAULTS, Faults, Operations, schedule
from tests.soak.load import SoakLoad

TENANT = "soak"
HTTP_VEHICLES = 6
BRIDGE_VEHICLES = 20
BRIDGE_READINGS_PER_SECOND = 200.0
STREAM_CLIENTS = 50
BRIDGE_NAME = f"{BRIDGE_PREFIX}soak-"
SETTLE_SECONDS = 120.0  # after the load stops: for the last fault's recovery and the delivery audit
STREAMS_FRESH_SECONDS = 20.0  # a vehicle stream client must have had an event this recently
SAMPLE_SECONDS = 5.0


async def soak(api_url: str, database_url: str, auth: AuthConfig, operations: Operations,
               minutes: float, seed: int, timeline: Timeline) -> dict[str, Any]:
    import ray

    token = issue_token(auth, "soak-operator", TENANT, "operator")
    vehicles = [f"soak-van-{i}" for i in range(HTTP_VEHICLES)]
    bridged = [f"soak-bridge-{i}" for i in range(BRIDGE_VEHICLES)]
    setup = AcknowledgingClient(api_url, token)
    for vehicle_id in vehicles + bridged:
        response = await setup.send("POST", "/v1/vehicles", {"vehicle_id": vehicle_id, "name": vehicle_id}, 201)
        assert response.status_code == 201
    await setup.aclose()
    bridge = SyntheticBridgeActor.options(name=f"{BRIDGE_NAME}1", namespace=RAY_NAMESPACE).remote(
        TENANT, bridged, BRIDGE_READINGS_PER_SECOND)
    await bridge.start.remote()

    seconds = minutes * 60
    planned = schedule(seed, seconds)
    timeline(f"soak for {minutes:g} min, seed {seed}: {len(planned)} faults; "
             f"{HTTP_VEHICLES} vehicles over HTTP, {BRIDGE_VEHICLES} through the synthetic bridge, "
             f"{STREAM_CLIENTS} stream clients")
    load = SoakLoad(api_url, token, vehicles, STREAM_CLIENTS, seed)
    running = asyncio.ensure_future(load.run())
    faults, started = Faults(operations, BRIDGE_NAME, seed), time.monotonic()
    samples: list[tuple[float, int, int, int]] = []  # seconds, cancellations, readings, answers retried

    async def sample_forever() -> None:
        while True:
            samples.append((round(time.monotonic() - started, 1), len(load.acknowledged.cancelled),
                            len(load.acknowledged.readings), sum(load.client.failures.values())))
            await asyncio.sleep(SAMPLE_SECONDS)
    sampler = asyncio.ensure_future(sample_forever())
    fault_log = []
    for at, fault in planned:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        done = await faults.inject(fault)
        fault_log.append((round(time.monotonic() - started, 1), fault, done))
        acknowledged = load.acknowledged
        timeline(f"{done}  ({len(acknowledged.cancelled)} cancellations, {len(acknowledged.readings)} readings "
                 f"acknowledged so far)")
    await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
    stale = [c for c in load.streams if c.kind != "fleet_sse"
             and time.monotonic() - c.last_event_at > STREAMS_FRESH_SECONDS]
    sampler.cancel()
    load.stop.set()
    await running
    bridge_stats = await bridge.stats.remote()
    ray.kill(bridge, no_restart=True)
    acknowledged = load.acknowledged
    timeline(f"load stopped: {len(acknowledged.cancelled)} cancellations ({acknowledged.repeated_cancels} sent "
             f"twice), {len(acknowledged.readings)} readings acknowledged; checking")

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        report = {
            "minutes": minutes, "seed": seed, "faults": fault_log, "samples": samples,
            "cancellations": await cancellations_applied(pool, acknowledged.cancelled, SETTLE_SECONDS),
            "repeated_cancels": acknowledged.repeated_cancels,
            "readings": await readings_stored(pool, TENANT, acknowledged.readings),
            "alerts": await alerts_raised(pool, TENANT),
            "outboxes": await _drained(pool, {"booking_outbox": acknowledged.cancelled,
                                              "vehicle_alert_outbox": vehicles + bridged}),
            "bridge": bridge_stats,
            "predictions": dict(acknowledged.predictions),
            "failed_answers": dict(load.client.failures),
            "streams": {kind: {"clients": sum(c.kind == kind for c in load.streams),
                               "events": sum(c.events for c in load.streams if c.kind == kind),
                               "connects": sum(c.connects for c in load.streams if c.kind == kind)}
                        for kind in sorted({c.kind for c in load.streams})},
            "stale_vehicle_streams": [asdict(c) for c in stale],
        }
    finally:
        await pool.close()
    report["violations"] = violations(report)
    return report


async def _drained(pool: asyncpg.Pool, keys: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """The soak's rows left in the outboxes, once none is or SETTLE_SECONDS have passed."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        left = await outboxes_left(pool, keys)
        if not any(counts["unpublished"] for counts in left.values()) or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1)


def violations(report: dict[str, Any]) -> list[str]:
    """Each promise the run broke, in words; none is a pass."""
    found = []
    c = report["cancellations"]
    if not c["acknowledged"]:
        found.append("no cancellation was acknowledged")
    if not c["stored_cancelled"] == c["with_one_event"] == c["acknowledged"]:
        found.append(f"acknowledged cancellations not stored with one event each: {c}")
    for group, applied in c["applied"].items():
        if applied["once"] != c["acknowledged"]:
            found.append(f"{group} did not apply every acknowledged cancellation exactly once: {applied}")
    r = report["readings"]
    if not r["acknowledged"] or r["stored_once"] != r["acknowledged"]:
        found.append(f"acknowledged readings not stored exactly once: {r}")
    if not report["alerts"]["raised"] or report["alerts"]["raised_twice"]:
        found.append(f"alerts raised (none, or some twice for one cause): {report['alerts']}")
    for outbox, left in report["outboxes"].items():
        if left["unpublished"] or left["dead_letters"]:
            found.append(f"{outbox}: {left['unpublished']} unpublished, {left['dead_letters']} dead letters")
    if report["bridge"]["delivered"] == 0:
        found.append("the synthetic bridge delivered nothing")
    if "500" in report["failed_answers"]:
        found.append(f"fleetray answered 500 {report['failed_answers']['500']} time(s)")
    if report["stale_vehicle_streams"]:
        found.append(f"{len(report['stale_vehicle_streams'])} vehicle stream clients had no event in the last "
                     f"{STREAMS_FRESH_SECONDS:.0f} s")
    return found


def print_report(report: dict[str, Any]) -> None:
    c, r = report["cancellations"], report["readings"]
    print(f"\nfaults ({len(report['faults'])}):")
    for at, fault, done in report["faults"]:
        print(f"  {at:7.1f} s  {fault:22} {done}")
    print(f"cancellations acknowledged {c['acknowledged']} ({report['repeated_cancels']} sent twice), "
          f"stored cancelled {c['stored_cancelled']}, with one event {c['with_one_event']}")
    for group, applied in c["applied"].items():
        print(f"  {group:20} once {applied['once']}, missing {applied['missing']}, "
              f"more than once {applied['more_than_once']}")
    print(f"readings acknowledged {r['acknowledged']}: stored once {r['stored_once']}, missing {r['missing']}, "
          f"more than once {r['stored_more_than_once']}")
    print(f"alerts raised {report['alerts']['raised']}, twice for one cause {report['alerts']['raised_twice']}")
    print(f"outboxes: {report['outboxes']}")
    print(f"synthetic bridge: {report['bridge']}")
    print(f"predictions by answer: {report['predictions']}")
    print(f"streams: {report['streams']}")
    print(f"answers retried (not a success): {report['failed_answers']}")
    print("PASS: every acknowledged change kept" if not report["violations"] else
          "FAIL:\n  " + "\n  ".join(report["violations"]))


def plot(report: dict[str, Any], path: Path) -> None:
    """Acknowledged cancellations and readings per second, and the answers retried, over the run,
    with each fault marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    times = [s[0] for s in samples[1:]]

    def rate(column: int) -> list[float]:
        return [(b[column] - a[column]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:])]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, height_ratios=[3, 1])
    top.plot(times, rate(1), label="cancellations acknowledged /s")
    top.plot(times, rate(2), label="readings acknowledged /s")
    bottom.plot(times, rate(3), color="tab:red", label="answers retried /s (503, lost connections)")
    colours = dict(zip(FAULTS, plt.get_cmap("tab10").colors))
    for at, fault, _ in report["faults"]:
        for axis in (top, bottom):
            axis.axvline(at, color=colours[fault], linewidth=0.8, alpha=0.7)
    handles = [plt.Line2D([], [], color=colour, label=fault) for fault, colour in colours.items()]
    top.legend(loc="upper left", fontsize=8)
    bottom.legend(loc="upper left", fontsize=8)
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, title="faults (vertical lines)")
    bottom.set_xlabel("seconds into the soak")
    verdict = "PASS" if not report["violations"] else f"FAIL ({len(report['violations'])} violations)"
    top.set_title(f"Fault soak: {report['minutes']:g} min, seed {report['seed']}, {len(report['faults'])} faults: "
                  f"{verdict}")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def soak_on_own_stack(minutes: float, seed: int) -> dict[str, Any]:
    """A stack of its own in a temporary state directory (embedded PostgreSQL and broker, which
    the soak restarts), models trained for the predictions, no rate limits."""
    from cluster.stack import LocalStack
    from tests.bench.stack import bench_settings
    from tests.helpers import pg_restart

    state_dir = Path(tempfile.mkdtemp(prefix="fleetray-soak-"))
    stack = LocalStack(bench_settings(state_dir, train_models=True, delivery_grace_seconds=10.0))
    timeline = Timeline()
    try:
        timeline(f"starting a stack in {state_dir}")
        await stack.start()
        timeline("stack running")

        async def start_broker() -> None:
            stack.broker.start()
            await ensure_topics(stack.broker.bootstrap_servers, TOPICS)
        operations = Operations(restart_database=lambda: pg_restart(stack.postgres),
                                stop_broker=stack.broker.stop, start_broker=start_broker)
        report = await soak(stack.api_url, stack.settings.database_url, stack.settings.auth, operations,
                            minutes, seed, timeline)
    finally:
        await stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    report["timeline"] = timeline.events
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, default=Path(".fleetray/soak/report.json"))
    args = parser.parse_args()
    report = asyncio.run(soak_on_own_stack(args.minutes, args.seed))
    print_report(report)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2, default=str))
    plot(report, args.report.with_suffix(".png"))
    print(f"report: {args.report}, plot: {args.report.with_suffix('.png')}")
    raise SystemExit(1 if report["violations"] else 0)


if __name__ == "__main__":
    main()
