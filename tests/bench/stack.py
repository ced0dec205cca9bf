"""The settings of a stack a benchmark or load test starts for itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster.broker import free_port
from cluster.settings import StackSettings


def default_state_dir() -> Path:
    """Where `make run` keeps its state (FLEETRAY_STATE_DIR, else .fleetray)."""
    return StackSettings().state_dir


def bench_settings(state_dir: Path, *, train_models: bool = False, **overrides: Any) -> StackSettings:
    """Everything of the stack in `state_dir` (database, registry, secrets), free ports so it
    runs beside `make run`, no demo fleet (unless asked for) and no maintenance sweep (nothing else on the cores
    while measuring), models trained only by the benchmark that measures them, and no rate
    limits (a benchmark's one user sends far more than a user's rate); the rest from the
    environment."""
    overrides.setdefault("rate_limits", {})
    overrides.setdefault("demo_fleet", 0)
    return StackSettings(state_dir=state_dir, http_port=free_port(), metrics_port=free_port(),
                         dashboard_port=free_port(), maintenance_sweep_seconds=0,
                         train_missing_models=train_models, **overrides)
