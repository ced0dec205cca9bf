"""ELM327-emulator processes: real ELM327 protocol peers on pseudo-ttys, for development,
tests and the demo fleet. Each is reached through a stable symlink, as a real adapter is
through a stable device path, so a restarted emulator is found at the same port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cluster.processes import terminate


class EmulatedAdapter:
    def __init__(self, link: Path, scenario: str = "car"):
        self.link = link
        self.scenario = scenario
        self.process: subprocess.Popen | None = None

    @property
    def port(self) -> str:
        return str(self.link)

    def start(self, timeout: float = 15.0) -> str:
        """Start the emulator and point the link at its pty; returns the port to open."""
        batch_file = self.link.with_suffix(".batch")
        batch_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "elm", "-s", self.scenario, "-b", str(batch_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = batch_file.read_text() if batch_file.exists() else ""
            if text.strip():
                pty = text.splitlines()[0].strip()
                self.link.unlink(missing_ok=True)
                self.link.symlink_to(pty)
                return self.port
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ELM327-emulator did not report its pty within {timeout}s")

    def stop(self) -> None:
        terminate(self.process)
        self.process = None
