"""Every benchmark docs/performance.md names runs end to end at a tiny size and prints its figures
and plot (nobody runs them otherwise until they measure something, so a broken one would first
show up in someone's measurement): most start their own stack as they do by hand; the prediction
and console benchmarks measure the session's stack, which already serves trained models and the
demo fleet. The figures themselves are not checked: at this size and on shared cores they mean
nothing."""

import asyncio
import os
import subprocess
import sys

import pytest

from tests.bench import predict

pytestmark = pytest.mark.integration

# module -> (tiny arguments, lines its report must contain)
BENCHMARKS = {
    "cancel": (["--duration", "1", "--concurrency", "4", "--bookings", "300", "--paced-rate", "10",
                "--paced-seconds", "1"],
                     ["ratio cancel/no-op", "ratio cancel/plain", "events applied by each consumer", "commit-to-consumer"]),
    "telemetry": (["--vehicles", "50", "--duration", "5", "--warmup", "1", "--clients", "2", "--rate", "2000",
                         "--paced-rate", "500"],
                        ["accepted/s", "CPU by process role", "capture -> SSE client"]),
}


@pytest.mark.parametrize("module", BENCHMARKS)
def test_the_benchmark_runs_and_reports(module, tmp_path):
    args, expected = BENCHMARKS[module]
    # As a newcomer runs it: every service embedded, its state in tmp_path (a DATABASE_URL the
    # tests are given holds the other stacks' rows, such as registry versions of other roots).
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "RAY_ADDRESS")}
    done = subprocess.run([sys.executable, "-m", f"tests.bench.{module}", *args], capture_output=True, text=True,
                          env={**env, "FLEETRAY_STATE_DIR": str(tmp_path)}, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    for line in expected:
        assert line in done.stdout, f"{line!r} missing from:\n{done.stdout[-4000:]}"
    assert list((tmp_path / "bench").glob("*.png")), "the plot was not written"


def run_on_database(server, module: str, *args: str) -> str:
    """Run benchmark `module` on the PostgreSQL server it is given (DATABASE_URL), where it makes
    its own scratch database; returns what it printed."""
    done = subprocess.run([sys.executable, "-m", f"tests.bench.{module}", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "DATABASE_URL": server.get_uri()})
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def test_the_engine_window_cost_benchmark_runs_and_reports(embedded_postgres):
    printed = run_on_database(embedded_postgres, "engine_window_cost", "--vehicles", "2", "--days", "30",
                              "--repeats", "1")
    assert "summaries cached" in printed and "ms per vehicle" in printed, printed


def test_the_search_benchmark_runs_and_reports(embedded_postgres):
    printed = run_on_database(embedded_postgres, "search", "--vehicles", "100", "--dtc-rows", "2000", "--queries", "16")
    assert "against the target 10 ms" in printed and "part of a VIN" in printed, printed


def test_the_offset_gap_stress_runs_and_the_guarded_groups_miss_nothing():
    done = subprocess.run([sys.executable, "-m", "tests.bench.offset_gaps", "--seconds", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    guarded = [line for line in done.stdout.splitlines() if line.strip().startswith("guarded")]
    # Records the broker acknowledged but does not hold no consumer can read (docs/known-limitations.md).
    assert len(guarded) == 2 and all("missing 0 of the log's" in line for line in guarded), done.stdout


async def test_the_prediction_benchmark_measures_the_running_stack(stack, served_models, tmp_path, capsys):
    args = predict.parse_args(["--seconds", "1", "--batch-sizes", "1", "--warmup", "0", "--concurrency", "2"])
    predict.report(await predict.measure(stack, args), args, stack.settings, tmp_path)
    printed = capsys.readouterr().out
    for line in ("target: battery (XGBoost) p99", "failed requests (not HTTP 200): 0 of"):
        assert line in printed, f"{line!r} missing from:\n{printed[-4000:]}"
    assert (tmp_path / "predict.png").exists() and (tmp_path / "predict.json").exists()


async def test_the_console_benchmark_measures_the_running_stack(stack, database_url, auth_config, tmp_path):
    """Against the session's stack (--api-url) rather than one of its own: it needs the demo fleet."""
    env = {**os.environ, "DATABASE_URL": database_url, "FLEETRAY_JWT_SECRET": auth_config.secret,
           "FLEETRAY_STATE_DIR": str(tmp_path)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tests.bench.console", "--api-url", stack.api_url,
                         "--loads", "1", "--seconds", "3"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    for line in ("gzip (target < 100 KB)", "first contentful paint, cold (1 loads)", "installable: yes",
                 "vehicle view of demo-1"):
        assert line in done.stdout, f"{line!r} missing from:\n{done.stdout[-4000:]}"
    assert (tmp_path / "bench" / "console.json").exists()
