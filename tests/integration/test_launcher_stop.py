"""Stopping `fleetray run` ends everything it started: after Ctrl-C, with traffic served
before, no process of the stack survives (HAProxy, Ray, PostgreSQL, the broker, emulators) and
its ports are free for the next `make run`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from cluster.broker import free_port
from cluster.processes import StartedProcesses

pytestmark = [pytest.mark.integration, pytest.mark.fault]

START_TIMEOUT = 240


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_started(api_url: str, launcher: subprocess.Popen, stack_file) -> None:
    """Healthy, and done starting: the launcher writes its stack file last."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "fleetray run exited while starting"
        try:
            if stack_file.exists() and httpx.get(f"{api_url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{api_url} not healthy within {START_TIMEOUT} s")


def drive_traffic(api_url: str, token: str, seconds: float) -> int:
    served = 0
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            created = client.post("/v1/bookings", json={"resource_id": "car-stop", "starts_at": "2030-01-01T10:00:00Z",
                                                        "ends_at": "2030-01-02T10:00:00Z"})
            assert created.status_code == 201, created.text
            cancelled = client.post(f"/v1/bookings/{created.json()['booking_id']}/cancel", json={"reason": "other"})
            assert cancelled.status_code == 200, cancelled.text
            served += 2
    return served


def test_ctrl_c_leaves_no_process_and_frees_the_ports(tmp_path):
    started = StartedProcesses()  # this test becomes the subreaper: orphans of the stack come here
    http_port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "RAY_ADDRESS")}
    env.update(FLEETRAY_STATE_DIR=str(tmp_path), FLEETRAY_HTTP_PORT=str(http_port),
               FLEETRAY_METRICS_PORT=str(metrics_port), FLEETRAY_DEMO_FLEET="1", FLEETRAY_TRAIN_MISSING_MODELS="0")
    fleetray = os.path.join(os.path.dirname(sys.executable), "fleetray")
    # Its own session, so that Ctrl-C can be sent as a terminal does: to the whole process group.
    launcher = subprocess.Popen([fleetray, "run"], env=env, start_new_session=True,
                                stdout=open(tmp_path / "run.log", "w"), stderr=subprocess.STDOUT)
    try:
        api_url = f"http://127.0.0.1:{http_port}"
        wait_until_started(api_url, launcher, tmp_path / "stack.json")
        stack = json.loads((tmp_path / "stack.json").read_text())
        token = subprocess.run([fleetray, "token", "--user", "alice"], env=env, capture_output=True, text=True,
                               check=True).stdout.strip()
        assert drive_traffic(api_url, token, seconds=3) > 0
        assert started.alive(), "the stack's processes should be visible before the stop"

        os.killpg(launcher.pid, signal.SIGINT)
        assert launcher.wait(timeout=180) == 0, (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(1)  # a process ended at the very end may still be exiting
        survivors = [f"{p.pid} {' '.join(p.cmdline())[:150]}" for p in started.alive() if p.status() != "zombie"]
    finally:
        if launcher.poll() is None:
            launcher.kill()
        started.end_all()  # whatever a failed or killed launcher left: orphans come to this test
    assert survivors == [], survivors
    broker_port = int(stack["kafka_bootstrap_servers"].rsplit(":", 1)[1])
    for port in (http_port, metrics_port, broker_port):
        assert port_is_free(port), f"port {port} still taken after the stop"
