"""Evaluation metrics written out with numpy (no scikit-learn in the environment)."""

from __future__ import annotations

import numpy as np

MAX_FPR = 0.05  # the design card's false-positive target


def precision_recall_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and the threshold for every distinct score (predict positive at >= it)."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order].astype(bool)
    last = np.r_[np.nonzero(np.diff(p_sorted))[0], len(p_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = last + 1 - tp
    return tp / (tp + fp), tp / max(y_sorted.sum(), 1), p_sorted[last]


def choose_threshold(y: np.ndarray, p: np.ndarray, max_fpr: float = MAX_FPR) -> float:
    """The threshold with the best F1 among those whose false positive rate is within max_fpr
    (on validation data; the test set must never choose it)."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    negatives = max(int((~y.astype(bool)).sum()), 1)
    tp = recall * max(int(y.sum()), 1)
    fpr = (tp / np.maximum(precision, 1e-12) - tp) / negatives
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    f1 = np.where(fpr <= max_fpr, f1, -1.0)
    return float(thresholds[int(np.argmax(f1))])


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[tuple[float, float, float]]:
    """(mean predicted probability, observed frequency, share of rows) of each non-empty bin of
    equal width in p."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [(float(p[which == b].mean()), float(y[which == b].mean()), float((which == b).mean()))
            for b in range(bins) if (which == b).any()]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    return float(sum(share * abs(predicted - observed) for predicted, observed, share in calibration_bins(y, p, bins)))


def classification(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    y = y.astype(bool)
    predicted = p >= threshold
    tp, fp = int((predicted & y).sum()), int((predicted & ~y).sum())
    fn, tn = int((~predicted & y).sum()), int((~predicted & ~y).sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    prevalence = float(y.mean())
    return {
        "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "fpr": fp / max(fp + tn, 1),
        "brier": float(np.mean((p - y) ** 2)),
        "brier_baseline": prevalence * (1 - prevalence),  # always predicting the prevalence
        "ece": expected_calibration_error(y, p),
        "f1_baseline": 2 * prevalence / (1 + prevalence),  # always predicting "fails"
        "positives": int(y.sum()), "rows": int(len(y)),
    }


def regression(y: np.ndarray, predicted: np.ndarray, train_mean: float) -> dict[str, float]:
    return {
        "mae": float(np.mean(np.abs(predicted - y))),
        "rmse": float(np.sqrt(np.mean((predicted - y) ** 2))),
        "mae_baseline": float(np.mean(np.abs(train_mean - y))),  # always predicting the train mean
        "rows": int(len(y)),
    }
