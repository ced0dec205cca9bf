"""Child processes the stack starts (broker, emulators) and must stop cleanly, and the sweep
that ends whatever else it started.

Some processes outlive the one that started them: a HAProxy that Serve reloaded with `-sf` has
no parent left once Ray stops, and daemons such as PostgreSQL detach on purpose. The launcher
becomes a child subreaper (Linux), so such orphans are re-parented to it rather than to init,
and its stop can still find and end them."""

from __future__ import annotations

import ctypes
import sys

import psutil

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> bool:
    """Orphaned descendants of this process become its children (False where the OS has no
    such thing: then an orphan goes to init and end_started cannot see it)."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


class StartedProcesses:
    """The processes descended from this one since it was created: the rest are someone else's
    (a test session's own database and broker) and are left alone."""

    def __init__(self) -> None:
        become_subreaper()
        self._before = {p.pid for p in psutil.Process().children(recursive=True)}

    def alive(self) -> list[psutil.Process]:
        found = []
        for process in psutil.Process().children(recursive=True):
            try:
                lineage = {process.pid, *(parent.pid for parent in process.parents())}
            except psutil.NoSuchProcess:
                continue
            if not lineage & self._before:
                found.append(process)
        return found

    def end_all(self, timeout: float = 5.0, grace: float = 3.0) -> list[str]:
        """Give started processes still alive `grace` seconds to exit on their own (Ray's
        dashboard workers do, a little after ray.shutdown()), then SIGTERM the rest and SIGKILL
        those left after `timeout`; reaps them. Returns "pid command line" of each it ended."""
        _, survivors = psutil.wait_procs(self.alive(), timeout=grace)
        ended = []
        for process in survivors:
            try:
                ended.append(f"{process.pid} {' '.join(process.cmdline())[:200]}")
                process.terminate()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        _, stubborn = psutil.wait_procs(survivors, timeout=timeout)
        for process in stubborn:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(stubborn, timeout=timeout)
        return ended
