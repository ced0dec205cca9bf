"""Train one model family on the simulated fleet, evaluate it on held-out vehicles and write an
artifact directory a registry can pick up:

    <out_dir>/model.pt | <target>.ubj   the model (torch state_dict or XGBoost per target)
    <out_dir>/metadata.json             family, inputs, thresholds, metrics, data fingerprint,
                                        seed, library versions, created_at
    <out_dir>/report.md, *.png          metrics tables, PR / calibration / predicted-vs-true plots

Classifier thresholds are chosen on the validation vehicles (seen conditions), never on the
test vehicles (unseen climate, duty cycle and noise); metrics are reported for both.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import xgboost as xgb

from ml import datasets, families, metrics, report
from ml.inputs import layout_problem
from ml.registry import IncompatibleArtifact
from ml.simulator import HORIZON_DAYS, PIDS, SIMULATOR_VERSION

DEFAULT_SEED = 7


def train(family: str, size: str, out_dir: Path | str, seed: int = DEFAULT_SEED,
          progress: Callable[[str], None] = print) -> Path:
    """Returns the artifact directory."""
    created = datetime.now(timezone.utc)
    out = Path(out_dir)
    model = families.make(family, seed)
    start = time.perf_counter()
    progress(f"{family}: simulating {size} fleet (train / val / test vehicles {datasets.SIZES[size][:3]}, "
             f"{datasets.SIZES[size][3]} days)")
    data = datasets.build(family, size, seed)
    progress(f"{family}: {len(data['train'].x)} training vehicle-days simulated in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    model.fit(data["train"], data["val"], size, lambda line: progress(f"{family}: {line}"))
    train_seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    predictions = {split: model.predict(data[split].x) for split in ("val", "test")}
    thresholds, scores, plots = {}, {}, []
    by_history: dict[str, dict[int, float]] | None = None  # the engine's F1 against days of trips
    for target in model.targets:
        truth = {split: data[split].targets[target] for split in ("val", "test")}
        if model.kind == "classifier":
            thresholds[target] = metrics.choose_threshold(truth["val"], predictions["val"][target])
            scores[target] = {s: metrics.classification(truth[s], predictions[s][target], thresholds[target])
                              for s in truth}
            y, p = truth["test"], predictions["test"][target]
            plots += [f"{target}_pr_curve.png", f"{target}_calibration.png"]
            report.pr_curve(out / plots[-2], y, p, thresholds[target], f"{family} {target}: test (unseen)")
            report.calibration(out / plots[-1], y, p, f"{family} {target}: test (unseen)")
            if family == "engine":
                by_history = f1_by_history_days(model, data, target, thresholds[target])
                plots.append(f"{target}_f1_by_history_days.png")
                report.f1_by_history(out / plots[-1], by_history, f"{family} {target}: F1 by history")
        else:
            mean = float(data["train"].targets[target].mean())
            scores[target] = {s: metrics.regression(truth[s], predictions[s][target], mean) for s in truth}
            plots.append(f"{target}_predicted_vs_true.png")
            report.predicted_vs_true(out / plots[-1], truth["test"], predictions["test"][target],
                                     f"{family} {target}: test (unseen)")
    metadata = {
        "family": family, "kind": model.kind, "library": model.library, "targets": model.targets,
        "model_files": model.save(out), "input": {**model.input_spec(data["train"]), "units": PIDS},
        "thresholds": thresholds, "horizon_days": HORIZON_DAYS if family == "engine" else None,
        "metrics": scores, "f1_by_history_days": by_history,
        "data_fingerprint": datasets.fingerprint(data),
        "split_fingerprints": {s: d.fingerprint for s, d in data.items()},
        "rows": {s: int(len(d.x)) for s, d in data.items()},
        "train_conditions": datasets.SEEN, "test_conditions": datasets.UNSEEN,
        "seed": seed, "size": size, "simulator_version": SIMULATOR_VERSION,
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "xgboost": xgb.__version__},
        "created_at": created.isoformat(), "train_seconds": train_seconds,
    }
    (out / "metadata.json").write_text(json.dumps(metadata, indent=2))
    (out / "report.md").write_text(report.markdown(metadata, plots))
    progress(f"{family}: trained in {train_seconds:.1f} s; report {out / 'report.md'}; "
             f"plots {', '.join(str(out / p) for p in plots)}")
    return out


def f1_by_history_days(model: families.Family, data: dict[str, datasets.Dataset], target: str,
                       threshold: float) -> dict[str, dict[int, float]]:
    """Validation and test F1 when every vehicle has only its last 1, 3, 7, 14 or all days of
    trips (the earlier ones missing), as for vehicles registered that long ago."""
    window = data["val"].x.shape[2]
    out: dict[str, dict[int, float]] = {}
    for split in ("val", "test"):
        for days in sorted({1, 3, 7, 14, window}):
            x = data[split].x.copy()
            x[..., :window - days] = np.nan
            out.setdefault(split, {})[days] = metrics.classification(
                data[split].targets[target], model.predict(x)[target], threshold)["f1"]
    return out


def load(out_dir: Path | str) -> tuple[families.Family, dict]:
    """The trained family and its metadata, from an artifact directory train() wrote. An
    artifact trained for other inputs than this release's model of its family takes (an older
    layout) is refused: its weights would not fit."""
    out = Path(out_dir)
    metadata = json.loads((out / "metadata.json").read_text())
    problem = layout_problem(metadata["family"], metadata["input"])
    if problem:
        raise IncompatibleArtifact(f"{out}: {problem}")
    model = families.make(metadata["family"], metadata["seed"])
    model.load(out, metadata["model_files"])
    return model, metadata
