"""Where the CPU goes during a benchmark phase: CPU seconds per process role (Serve replica,
shard actor, PostgreSQL, broker, load generator, ...), read from every process on the machine
before and after the phase (the embedded PostgreSQL runs as its own user). On a 2-core machine
a throughput ratio says little without it."""

from __future__ import annotations

import os
import resource
import re
from collections import defaultdict

import psutil

_RAY_TITLE = re.compile(r"ray::([A-Za-z_]+(?::[A-Za-z_-]+)*)")


def role_of(process: psutil.Process) -> str:
    """A stable name for what the process does (Ray workers by their actor class)."""
    try:
        cmdline = process.cmdline()
        name = process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "gone"
    title = " ".join(cmdline) if cmdline else name
    if match := _RAY_TITLE.match(title):
        return "ray::" + match.group(1)
    if "tests.bench.plain_cancel" in title:  # before postgres: its arguments name a postgresql:// URL
        return "plain service"
    if name.startswith("postgres") or "postgres:" in title:
        return "postgres"
    for marker, role in (("tests.bench.closed_loop", "load generator"), ("locust", "load generator"),
                         ("gcs_server", "ray gcs"), ("raylet", "raylet"), ("dashboard", "ray dashboard"),
                         ("haproxy", "haproxy"), ("broker", "broker (tansu)"), ("log_monitor", "ray log monitor")):
        if marker in title:
            return role
    if process.pid == os.getpid():
        return "bench driver"
    return f"other ({name})"


class CpuSplit:
    """`start()` before a phase, `stop()` after it: CPU seconds by role in between."""

    def __init__(self) -> None:
        self._before: dict[int, tuple[str, float]] = {}

    @staticmethod
    def _snapshot() -> dict[int, tuple[str, float]]:
        found = {}
        for process in psutil.process_iter():
            try:
                times = process.cpu_times()
                found[process.pid] = (role_of(process), times.user + times.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self, exited_children: dict[str, float] | None = None) -> dict[str, float]:
        """`exited_children`: CPU of processes that ran and exited within the phase (a
        snapshot cannot see them; the caller reads them from its own rusage)."""
        spent: dict[str, float] = defaultdict(float, exited_children or {})
        for pid, (role, cpu) in self._snapshot().items():
            earlier = self._before.get(pid)
            spent[role] += cpu - (earlier[1] if earlier else 0.0)
        return {role: seconds for role, seconds in sorted(spent.items(), key=lambda kv: -kv[1]) if seconds > 0.05}


def format_split(spent: dict[str, float], seconds: float, requests: int, unit: str = "request") -> str:
    """One line per role: cores busy and CPU milliseconds per request (or other `unit`)."""
    lines = [f"    {'role':34} {'cores':>6} {'ms/' + unit:>14}"]
    for role, cpu in spent.items():
        lines.append(f"    {role:34} {cpu / seconds:6.2f} {1000 * cpu / max(requests, 1):14.2f}")
    total = sum(spent.values())
    lines.append(f"    {'total':34} {total / seconds:6.2f} {1000 * total / max(requests, 1):14.2f}")
    return "\n".join(lines)


def children_cpu_seconds() -> float:
    """CPU of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
