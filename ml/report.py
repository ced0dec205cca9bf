"""Plots and the markdown report of a training run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ml.metrics import calibration_bins, precision_recall_curve  # noqa: E402


def pr_curve(path: Path, y: np.ndarray, p: np.ndarray, threshold: float, title: str) -> None:
    precision, recall, thresholds = precision_recall_curve(y, p)
    chosen = int(np.argmin(np.abs(thresholds - threshold)))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision)
    ax.scatter([recall[chosen]], [precision[chosen]], color="red", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend()
    _save(fig, path)


def calibration(path: Path, y: np.ndarray, p: np.ndarray, title: str) -> None:
    predicted, observed, _ = zip(*calibration_bins(y, p))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.plot(predicted, observed, "o-")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title=title)
    _save(fig, path)


def predicted_vs_true(path: Path, y: np.ndarray, predicted: np.ndarray, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(y, predicted, s=3, alpha=0.3)
    low, high = float(min(y.min(), predicted.min())), float(max(y.max(), predicted.max()))
    ax.plot([low, high], [low, high], "--", color="grey")
    ax.set(xlabel="true", ylabel="predicted", title=title)
    _save(fig, path)


def f1_by_history(path: Path, by_days: dict[str, dict[int, float]], title: str) -> None:
    """F1 per split against how many days of history each vehicle had."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for split, scores in by_days.items():
        ax.plot(list(scores), list(scores.values()), "o-", label=split)
    ax.set(xlabel="days of trips the vehicle has", ylabel="F1", ylim=(0, 1), title=title)
    ax.legend()
    _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _cell(value: float | int) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(metadata: dict, plots: list[str]) -> str:
    lines = [f"# {metadata['family']} model, {metadata['created_at']}", "",
             f"Trained in {metadata['train_seconds']:.1f} s on {metadata['rows']['train']} vehicle-days "
             f"(size {metadata['size']}, seed {metadata['seed']}); threshold chosen on validation vehicles.",
             f"Test: unseen conditions {metadata['test_conditions']}.", f"Data fingerprint `{metadata['data_fingerprint']}`.", ""]
    for target, splits in metadata["metrics"].items():
        names = list(next(iter(splits.values())))
        lines += [f"## {target}", "", "| split | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for split, values in splits.items():
            lines.append(f"| {split} | " + " | ".join(_cell(values[n]) for n in names) + " |")
        lines.append("")
    if metadata.get("f1_by_history_days"):
        by_history = metadata["f1_by_history_days"]
        days = list(next(iter(by_history.values())))
        lines += ["## F1 by days of history", "", "| split | " + " | ".join(f"{d} d" for d in days) + " |",
                  "|---" * (len(days) + 1) + "|"]
        lines += [f"| {split} | " + " | ".join(f"{f1:.3f}" for f1 in scores.values()) + " |"
                  for split, scores in by_history.items()]
        lines.append("")
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
