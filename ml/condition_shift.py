"""Which unseen operating condition costs a trained engine model its quality: evaluates an
artifact (`fleetray model train engine` output) with its own threshold on simulated fleets that
change one condition of training at a time (the test split's climate, duty cycle or noise), then
all of them together, as the test split does.

    .venv/bin/python -m ml.condition_shift ARTIFACT_DIR [--vehicles 120] [--days 90] [--seeds 101 102]

The fleets use seeds of their own, so nothing here touches the validation or test split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ml import metrics
from ml.datasets import SEEN, UNSEEN, family_dataset
from ml.simulator import FleetConfig, simulate
from ml.train import load

CONDITIONS = {
    "training conditions": SEEN,
    f"climate {'/'.join(UNSEEN['climates'])}": {**SEEN, "climates": UNSEEN["climates"]},
    f"duty {'/'.join(UNSEEN['duties'])}": {**SEEN, "duties": UNSEEN["duties"]},
    f"noise {UNSEEN['noise'][0]}-{UNSEEN['noise'][1]}": {**SEEN, "noise": UNSEEN["noise"]},
    "all unseen (as the test split)": UNSEEN,
}


def evaluate(artifact: Path, vehicles: int, days: int, seeds: list[int]) -> dict[str, list[dict]]:
    """condition -> the metrics on one fleet per seed."""
    model, metadata = load(artifact)
    if metadata["family"] != "engine":
        raise SystemExit(f"{artifact} is a {metadata['family']} model; this compares engine classifiers")
    threshold = metadata["thresholds"]["fails_soon"]
    results: dict[str, list[dict]] = {}
    for name, conditions in CONDITIONS.items():
        for seed in seeds:
            data = family_dataset("engine", simulate(FleetConfig(vehicles, days, seed=seed, id_prefix="shift",
                                                                 **conditions)))
            scores = metrics.classification(data.targets["fails_soon"], model.predict(data.x)["fails_soon"],
                                            threshold)
            results.setdefault(name, []).append(scores)
            print(f"  {name}, seed {seed}: F1 {scores['f1']:.2f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--vehicles", type=int, default=120)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102])
    args = parser.parse_args()
    results = evaluate(args.artifact, args.vehicles, args.days, args.seeds)
    print(f"{args.artifact}: {args.vehicles} vehicles x {args.days} days per fleet, mean of seeds {args.seeds}")
    print(f" {'condition':32s} {'F1':>5s} {'precision':>9s} {'recall':>6s} {'FPR':>6s}")
    for name, runs in results.items():
        mean = {k: float(np.mean([r[k] for r in runs])) for k in ("f1", "precision", "recall", "fpr")}
        print(f" {name:32s} {mean['f1']:5.2f} {mean['precision']:9.2f} {mean['recall']:6.2f} {mean['fpr']:6.3f}")


if __name__ == "__main__":
    main()
