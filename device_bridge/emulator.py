"""ELM327-emulator processes: real ELM327 protocol peers on pseudo-ttys, for development,
tests and the demo fleet. Each is reached through a stable symlink, as a real adapter is
through a stable device path, so a restarted emulator is found at the same port.

The emulator runs in batch mode with its command interpreter on a pipe, so a test or a demo can
change the emulated car while python-obd reads it (for example store a trouble code)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import obd

from device_bridge.child_process import terminate

ECU_HEADER = "7E8"  # the engine ECU of the "car" scenario answers from 7E8


class EmulatedAdapter:
    def __init__(self, link: Path, scenario: str = "car"):
        self.link = link
        self.scenario = scenario
        self.process: subprocess.Popen | None = None
        self._stdin_lock = threading.Lock()  # a demo replay and a test may both change the car

    @property
    def port(self) -> str:
        return str(self.link)

    def start(self, timeout: float = 15.0) -> str:
        """Start the emulator and point the link at its pty; returns the port to open."""
        batch_file = self.link.with_suffix(".batch")
        batch_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "elm", "-s", self.scenario, "-b", str(batch_file)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, text=True)
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

    def set_trouble_codes(self, codes: list[str]) -> None:
        """Store these codes (e.g. ["P0301"]) in the emulated car; mode 03 reports them from now on
        (an empty list clears them). The emulator omits the DTC count byte that python-obd reads
        first in a CAN answer (it would decode no code), so the count goes before the first code."""
        encoded = [dtc_hex(code) for code in codes]
        if encoded:
            encoded[0] = f"{len(encoded):02X}{encoded[0]}"
        self._command("import elm.obd_message as m; "
                      f"m.DTC_STORED[:] = {encoded!r}; emulator.counters.pop('cmd_dtc_cleared', None)")

    def _command(self, line: str) -> None:
        with self._stdin_lock:
            if self.process is None or self.process.stdin is None:
                raise RuntimeError("the emulator is not running")
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def set_answers(self, answers: dict[str, str]) -> None:
        """Answer these commands (python-obd names, e.g. "RPM") with these raw ECU responses
        from now on, instead of the scenario's."""
        self._command(f"emulator.answer.update({answers!r})")

    def set_freeze_frame(self, frame: dict[str, str]) -> None:
        """Answer mode-02 requests with these data bytes, e.g. {"RPM": "1A F8"} (the stock car
        scenario answers every mode-02 PID with a negative response: no frame stored)."""
        commands = {pid: obd.commands["DTC_" + pid] for pid in frame}
        self.set_answers({c.name: ecu_answer(f"42 {c.pid:02X} {frame[pid]}") for pid, c in commands.items()})

    def stop(self) -> None:
        terminate(self.process)
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        self.process = None


def ecu_answer(payload: str) -> str:
    """An emulator answer carrying `payload` (hex bytes, e.g. "41 0C 1A F8") from the engine ECU."""
    return f"<header>{ECU_HEADER}</header><size>{len(payload.split()):02X}</size><data>{payload}</data>"


DTC_GROUPS = "PCBU"


def dtc_hex(code: str) -> str:
    """SAE J2012 two-byte form of a trouble code: the group letter in the top two bits
    ("P0301" -> "0301", "C0035" -> "4035", "U0100" -> "C100")."""
    group = DTC_GROUPS.index(code[0].upper())
    first = (group << 2) | int(code[1], 16)
    return f"{first:X}{code[2:].upper()}"
