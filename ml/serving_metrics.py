"""Prometheus metrics of the model calls, counted in the processes that make them (API replicas,
the maintenance sweep) and scraped with every other process's (cluster/metrics_server.py)."""

from __future__ import annotations

from prometheus_client import Counter

MODEL_PREDICTIONS = Counter(
    "model_predictions_total", "Instances predicted, by model, version and role (stable or canary)",
    ["model", "version", "role"])
