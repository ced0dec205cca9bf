"""Metrics of the model calls, recorded in the processes that make them (API replicas, the
maintenance sweep) and exported by Ray's metrics agent of their node (actors/metrics.py)."""

from __future__ import annotations

from ray.util.metrics import Counter

MODEL_PREDICTIONS = Counter(
    "model_predictions_total", "Instances predicted, by model, version and role (stable or canary)",
    tag_keys=("model", "version", "role"))
