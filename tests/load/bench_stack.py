"""The settings of a stack a benchmark or load test starts for itself."""

from __future__ import annotations

import os
from pathlib import Path

from cluster.broker import free_port
from cluster.settings import StackSettings


def default_state_dir() -> Path:
    """Where `make run` keeps its state (FLEETRAY_STATE_DIR, else .fleetray)."""
    return Path(os.environ.get("FLEETRAY_STATE_DIR", ".fleetray")).resolve()


def bench_settings(state_dir: Path, *, train_models: bool = False) -> StackSettings:
    """Everything of the stack in `state_dir` (database, registry, secrets), free ports so it
    runs beside `make run`, no demo fleet and no maintenance sweep (nothing else on the cores
    while measuring), and models trained only by the benchmark that measures them."""
    settings = StackSettings.from_env({**os.environ, "FLEETRAY_STATE_DIR": str(state_dir)})
    settings.http_port, settings.metrics_port, settings.dashboard_port = free_port(), free_port(), free_port()
    settings.demo_fleet = 0
    settings.maintenance_sweep_seconds = 0
    settings.train_missing_models = train_models
    return settings
