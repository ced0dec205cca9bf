"""StartedProcesses finds and ends what a stop would leave behind, orphans included, and
leaves alone the processes that were there before it."""

import subprocess
import sys
import time

import psutil
import pytest

from cluster.processes import StartedProcesses

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux's")


def orphan_pid() -> int:
    """A sleeping process whose parent has exited (as HAProxy after a reload, once Ray stopped)."""
    shell = subprocess.run(["sh", "-c", "sleep 120 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True,
                           check=True)
    return int(shell.stdout.strip())


def test_an_orphan_is_found_and_ended():
    started = StartedProcesses()
    pid = orphan_pid()
    assert pid in [p.pid for p in started.alive()]
    ended = started.end_all(timeout=5, grace=0.1)
    assert any(line.startswith(f"{pid} sleep") for line in ended), ended
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_processes_started_before_are_left_alone():
    earlier = subprocess.Popen(["sleep", "120"])
    try:
        started = StartedProcesses()
        assert earlier.pid not in [p.pid for p in started.alive()]
        started.end_all(timeout=5, grace=0.1)
        time.sleep(0.1)
        assert earlier.poll() is None
    finally:
        earlier.kill()
        earlier.wait()
