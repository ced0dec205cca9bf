"""`make bench-predict`: requests/s and p50/p99 latency of `POST /v1/models/{name}/predict` for
every model family (engine: the PyTorch sequence model; battery and brakes: XGBoost) and of the
no-op Serve endpoint, at 1, 8 and 64 instances per request, side by side in one stack and one
run under the same closed-loop load.

    .venv/bin/python -m tests.bench.predict [--seconds 10] [--concurrency 8]
                                                 [--batch-sizes 1 8 64] [--model-size medium]
                                                 [--state-dir DIR]

The stack runs without the demo fleet (nothing else on the cores) with its state in a temporary
directory unless --state-dir is given (with DATABASE_URL set, that database and the model
registry it describes are used instead); a registry without promoted models gets models of
--model-size trained first (ml/defaults.py; default medium, as `make run` trains, about a minute
on 2 cores; the size sets the simulated fleet they learn from and the XGBoost models' rounds). Instances are vehicle-days of a simulated fleet
(NaN sent as null); the no-op endpoint gets the same POST body, so each batch size compares the
same request bytes. Each phase is tests/bench/closed_loop.py in its own process; every response
must be a 200 and the failures are counted. Prints a table with each endpoint's p99 relative to
the no-op's and to battery's (targets: p99 < 50 ms at batch 1 for the XGBoost models, the
sequence model within 3x of battery), and writes predict.json and predict.png to the results
directory (default .fleetray/bench/, under FLEETRAY_STATE_DIR when set).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from ray import serve

from cluster.settings import StackSettings
from cluster.stack import LocalStack
from ml.datasets import FAMILIES, SEEN, SIZES, family_dataset
from ml.deployments import API_APP, deployment_name, model_server_handle
from ml.features import INPUT_NAMES
from ml.inputs import to_instances
from ml.simulator import FleetConfig, simulate
from serve_apps.auth import issue_token
from tests.bench.cancel import summary
from tests.bench.stack import bench_settings, default_state_dir

REPO = Path(__file__).resolve().parents[2]
NOOP = "no-op"
ENDPOINTS = (NOOP, *FAMILIES)
XGBOOST_TARGET_P99_MS = 50.0
SEQUENCE_TARGET_RATIO = 3.0
# closed_loop.run in its own process, its arguments on stdin (a batch of 64 instances can be
# larger than one command-line argument may be).
LOAD_RUNNER = ("import asyncio, json, sys; from tests.bench.closed_loop import run; "
               "json.dump(asyncio.run(run(**json.load(sys.stdin))), sys.stdout)")


def number(value: float) -> float | None:
    """A float32 value as JSON sends it: NaN (a dropout) as null, 6 significant digits."""
    return None if np.isnan(value) else float(f"{value:.6g}")


def instances_by_family(count: int) -> dict[str, list[dict]]:
    """`count` instances per family from vehicle-days of a simulated fleet no model saw."""
    fleet = simulate(FleetConfig(6, 30, seed=4242, id_prefix="bench", **SEEN))
    out = {}
    for family in FAMILIES:
        x = family_dataset(family, fleet).x
        out[family] = to_instances(INPUT_NAMES[family], x[np.arange(count) % len(x)], number)
    return out


async def load(url: str, body: str, token: str, concurrency: int, seconds: float) -> dict:
    """One closed-loop phase (tests/bench/closed_loop.py): POST `body` with `concurrency`
    connections for `seconds`; its progress lines go to stderr."""
    args = {"url_template": url, "method": "POST", "body": body, "token": token, "ids": [],
            "concurrency": concurrency, "duration": seconds}
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", LOAD_RUNNER], input=json.dumps(args),
                                  stdout=subprocess.PIPE, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"the load generator exited with {out.returncode} (its error is above)")
    result = json.loads(out.stdout)
    result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
    return result


def endpoint_url(base: str, endpoint: str) -> str:
    return f"{base}/noop" if endpoint == NOOP else f"{base}/v1/models/{endpoint}/predict"


async def check_once(client: httpx.AsyncClient, endpoint: str, body: str, batch: int) -> None:
    """One request before the load: a 200 with one prediction per instance."""
    response = await client.post(endpoint_url("", endpoint), content=body,
                                 headers={"content-type": "application/json"})
    if response.status_code != 200:
        raise SystemExit(f"{endpoint} at batch {batch}: HTTP {response.status_code}: {response.text[:500]}")
    if endpoint != NOOP and len(response.json()["predictions"]) != batch:
        raise SystemExit(f"{endpoint} at batch {batch}: {len(response.json()['predictions'])} predictions")


async def wait_for_models(client: httpx.AsyncClient, timeout: float = 120) -> dict[str, int]:
    """family -> stable version, once the API answers and every family has one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await client.get("/v1/models")
            if response.status_code == 200:
                served = {m["model"]: m["stable_version"] for m in response.json()}
                if all(served.get(f) for f in FAMILIES):
                    return served
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the API did not list a served version of every model family in time")
        await asyncio.sleep(1)


async def serving_devices() -> dict[str, str]:
    return {family: await model_server_handle(family).serving_device.remote() for family in FAMILIES}


def replicas() -> dict[str, int]:
    """Running replicas of each model deployment (they autoscale with the load)."""
    deployments = serve.status().applications[API_APP].deployments
    return {family: sum(n for state, n in deployments[deployment_name(family)].replica_states.items()
                        if str(getattr(state, "value", state)) == "RUNNING") for family in FAMILIES}


def phase_figures(endpoint: str, batch: int, body_bytes: int, result: dict) -> dict:
    s = summary(endpoint, result)
    ok = s["statuses"].get(200, 0)
    return {"endpoint": endpoint, "batch": batch, "body_bytes": body_bytes, "requests": s["requests"],
            "failed": s["requests"] - ok, "statuses": s["statuses"], "rps": s["rps"],
            "instances_per_s": s["rps"] * batch if endpoint != NOOP else None,
            "p50_ms": s["p50"], "p95_ms": s["p95"], "p99_ms": s["p99"],
            "mean_ms": float(np.mean(s["latencies"])), "max_ms": float(np.max(s["latencies"]))}


def add_ratios(results: list[dict]) -> None:
    by = {(r["endpoint"], r["batch"]): r for r in results}
    for r in results:
        noop, battery = by.get((NOOP, r["batch"])), by.get(("battery", r["batch"]))
        r["p99_vs_noop"] = r["p99_ms"] / noop["p99_ms"] if noop else None
        r["p99_vs_battery"] = r["p99_ms"] / battery["p99_ms"] if battery else None


def targets(results: list[dict]) -> list[dict]:
    by = {(r["endpoint"], r["batch"]): r for r in results}
    out = []
    for family in ("battery", "brakes"):
        if (family, 1) in by:
            p99 = by[(family, 1)]["p99_ms"]
            out.append({"target": f"{family} (XGBoost) p99 at batch 1 < {XGBOOST_TARGET_P99_MS:.0f} ms",
                        "value": f"{p99:.1f} ms", "met": bool(p99 < XGBOOST_TARGET_P99_MS)})
    if ("engine", 1) in by and ("battery", 1) in by:
        ratio = by[("engine", 1)]["p99_vs_battery"]
        out.append({"target": f"engine (sequence) p99 at batch 1 within {SEQUENCE_TARGET_RATIO:.0f}x of battery's",
                    "value": f"{ratio:.2f}x", "met": bool(ratio <= SEQUENCE_TARGET_RATIO)})
    return out


def print_table(results: list[dict], args: argparse.Namespace, devices: dict[str, str]) -> None:
    print(f"\nclosed loop, {args.concurrency} connections, {args.seconds:.0f}s per endpoint and batch size; "
          f"model devices: {', '.join(f'{f}={d}' for f, d in devices.items())}")
    print(f"{'batch':>5} {'endpoint':9} {'body KB':>8} {'requests':>9} {'req/s':>8} {'inst/s':>8} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'p99/no-op':>10} {'p99/battery':>12} {'failed':>7}")
    for r in results:
        inst = f"{r['instances_per_s']:8.0f}" if r["instances_per_s"] is not None else f"{'-':>8}"
        vs_noop = f"{r['p99_vs_noop']:10.2f}" if r["p99_vs_noop"] is not None else f"{'-':>10}"
        vs_battery = f"{r['p99_vs_battery']:12.2f}" if r["p99_vs_battery"] is not None else f"{'-':>12}"
        print(f"{r['batch']:5d} {r['endpoint']:9} {r['body_bytes'] / 1024:8.1f} {r['requests']:9d} {r['rps']:8.0f} "
              f"{inst} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {vs_noop} {vs_battery} {r['failed']:7d}")
    failed = sum(r["failed"] for r in results)
    print(f"failed requests (not HTTP 200): {failed} of {sum(r['requests'] for r in results)}"
          + ("" if not failed else "  statuses: " + "; ".join(
              f"{r['endpoint']}@{r['batch']} {r['statuses']}" for r in results if r["failed"])))
    for t in targets(results):
        print(f"target: {t['target']}: {t['value']} ({'met' if t['met'] else 'NOT met'})")


def plot(results: list[dict], args: argparse.Namespace, devices: dict[str, str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, ScalarFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, endpoint in enumerate(ENDPOINTS):
        rows = sorted((r for r in results if r["endpoint"] == endpoint), key=lambda r: r["batch"])
        if not rows:
            continue
        batches, color = [r["batch"] for r in rows], f"C{i}"
        label = endpoint if endpoint == NOOP else f"{endpoint} ({devices.get(endpoint, '?')})"
        left.plot(batches, [r["p99_ms"] for r in rows], "o-", color=color, label=f"{label} p99")
        left.plot(batches, [r["p50_ms"] for r in rows], "o--", color=color, alpha=0.6, label=f"{label} p50")
        if endpoint != NOOP:
            right.plot(batches, [r["instances_per_s"] for r in rows], "o-", color=color, label=label)
    left.axhline(XGBOOST_TARGET_P99_MS, color="grey", linestyle=":", label="target p99 (XGBoost, batch 1)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(args.batch_sizes, [str(b) for b in args.batch_sizes])
        ax.set_xlabel("instances per request")
        ax.grid(True, alpha=0.3)
    for ax in (left, right):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
    left.set_ylabel("latency (ms)")
    left.legend(fontsize=7, ncol=2)
    right.set_ylabel("instances / s")
    right.legend(fontsize=8)
    fig.suptitle(f"Model predictions vs the no-op endpoint: closed loop, {args.concurrency} connections, "
                 f"{args.seconds:.0f}s per point")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


async def measure(stack: LocalStack, args: argparse.Namespace) -> dict:
    settings = stack.settings
    token = issue_token(settings.auth, "bench-user")
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=60) as client:
        versions = await wait_for_models(client)
        devices = await serving_devices()
        print(f"serving {', '.join(f'{f} v{v} on {devices[f]}' for f, v in versions.items())}", flush=True)
        instances = instances_by_family(max(args.batch_sizes))
        bodies = {(family, batch): json.dumps({"instances": instances[family][:batch]})
                  for family in FAMILIES for batch in args.batch_sizes}
        for batch in args.batch_sizes:
            bodies[(NOOP, batch)] = bodies[("battery", batch)]
        for (endpoint, batch), body in bodies.items():
            await check_once(client, endpoint, body, batch)

    if args.warmup > 0:
        for endpoint in ENDPOINTS:
            print(f"warming up {endpoint}, {args.warmup:.0f}s ...", flush=True)
            await load(endpoint_url(stack.api_url, endpoint), bodies[(endpoint, max(args.batch_sizes))], token,
                       args.concurrency, args.warmup)

    results = []
    for batch in args.batch_sizes:
        for endpoint in ENDPOINTS:
            body = bodies[(endpoint, batch)]
            print(f"{endpoint} at {batch} instance(s) per request ({len(body) / 1024:.1f} KB), "
                  f"{args.concurrency} connections, {args.seconds:.0f}s ...", flush=True)
            r = phase_figures(endpoint, batch, len(body), await load(
                endpoint_url(stack.api_url, endpoint), body, token, args.concurrency, args.seconds))
            r["replicas"] = replicas()
            results.append(r)
            print(f"  {r['rps']:.0f} req/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
                  f"failed {r['failed']}  replicas {r['replicas']}", flush=True)
    add_ratios(results)
    return {"versions": versions, "devices": devices, "results": results}


def results_dir(arg: Path | None) -> Path:
    """As the other benchmarks: `bench/` in the stack's default state directory."""
    return (arg or default_state_dir() / "bench").resolve()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per endpoint and batch size")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop connections")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 64], help="instances per request")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load per endpoint before measuring")
    parser.add_argument("--model-size", choices=list(SIZES), default="medium",
                        help="of the models trained when the registry has none promoted")
    parser.add_argument("--state-dir", type=Path,
                        help="the stack's state (database, broker, model registry); default: a temporary one")
    parser.add_argument("--results-dir", type=Path, help="default: .fleetray/bench/")
    args = parser.parse_args(argv)
    args.batch_sizes = sorted(set(args.batch_sizes))
    return args


def report(measured: dict, args: argparse.Namespace, settings: StackSettings, out_dir: Path) -> None:
    """Print the table and the targets; write predict.json and predict.png to out_dir."""
    results = measured["results"]
    print_table(results, args, measured["devices"])
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {"finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "stack": {"serve_ingress": settings.serve_ingress, "demo_fleet": settings.demo_fleet},
               "concurrency": args.concurrency, "seconds": args.seconds, "batch_sizes": args.batch_sizes,
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
               "versions": measured["versions"], "devices": measured["devices"],
               "targets": targets(results), "results": results}
    (out_dir / "predict.json").write_text(json.dumps(figures, indent=2, default=float))
    print(f"figures: {out_dir / 'predict.json'}")
    plot(results, args, measured["devices"], out_dir / "predict.png")


async def main() -> None:
    args = parse_args()
    out_dir = results_dir(args.results_dir)
    state_dir = (args.state_dir or Path(tempfile.mkdtemp(prefix="fleetray-bench-predict-"))).resolve()
    configured = StackSettings()
    # A configured database's registry rows name files in the configured registry.
    settings = bench_settings(state_dir, train_models=True, default_model_size=args.model_size,
                              **({"model_registry_uri": configured.model_registry_uri} if configured.database_url else {}))
    stack = LocalStack(settings)
    print(f"starting the stack (state in {state_dir}) ...", flush=True)
    try:
        await stack.start()
        measured = await measure(stack, args)
    finally:
        await stack.stop()
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    report(measured, args, settings, out_dir)


if __name__ == "__main__":
    asyncio.run(main())
