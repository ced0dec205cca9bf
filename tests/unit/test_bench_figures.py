"""The benchmarks' arithmetic on a phase's raw result (they run only by hand, so a broken
summary would otherwise show up first in someone's benchmark run)."""

from tests.bench.cancel import summary
from tests.bench.predict import phase_figures


def test_a_phase_is_summarised_with_or_without_a_cpu_split():
    result = {"latencies": [0.010, 0.020, 0.030, 0.040], "elapsed": 2.0, "statuses": {200: 3, 503: 1}}
    figures = phase_figures("battery", 8, 1234, result)
    assert figures["requests"] == 4 and figures["failed"] == 1
    assert figures["rps"] == 2.0 and figures["instances_per_s"] == 16.0
    assert 10 < figures["p50_ms"] < 40 and figures["max_ms"] == 40.0

    with_cpu = summary("cancel", {**result, "cpu": {"postgres": 0.5}, "wall": 2.1})
    assert with_cpu["cpu"] == {"postgres": 0.5} and with_cpu["wall"] == 2.1
