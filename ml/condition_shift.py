"""Which unseen operating condition costs a trained engine model its quality: evaluates an
artifact (`fleetray model train engine` output) with its own threshold on simulated fleets that
change one condition of training at a time (the test split's climate, duty cycle or noise), then
all of them together, as the test split does.

    .venv/bin/python -m ml.condition_shift ARTIFACT_DIR [--vehicles 120] [--days 90] [--seeds 101 102]
                                                        [--reference]

With --reference it also trains a reference model, the artifact's family, size and seed, on
train and validation fleets in the unseen conditions themselves, and scores it on the same
fleets: where the artifact falls short of it, the model generalises poorly; where both fall
short of the training conditions' figures, the unseen conditions are harder to read.

The fleets use seeds of their own, so nothing here touches the validation or test split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ml import families, metrics
from ml.datasets import SEEN, UNSEEN, family_dataset, split_configs
from ml.simulator import FleetConfig, simulate
from ml.train import load

CONDITIONS = {
    "training conditions": SEEN,
    f"climate {'/'.join(UNSEEN['climates'])}": {**SEEN, "climates": UNSEEN["climates"]},
    f"duty {'/'.join(UNSEEN['duties'])}": {**SEEN, "duties": UNSEEN["duties"]},
    f"noise {UNSEEN['noise'][0]}-{UNSEEN['noise'][1]}": {**SEEN, "noise": UNSEEN["noise"]},
    "all unseen (as the test split)": UNSEEN,
}
ARTIFACT, REFERENCE = "artifact", "trained on unseen"


def reference_model(metadata: dict) -> tuple[families.Family, float]:
    """The artifact's family trained as train() would, but on fleets in the unseen conditions,
    with its threshold chosen on a validation fleet in those conditions."""
    configs = split_configs(metadata["size"], metadata["seed"], train_conditions=UNSEEN)
    train, val = (family_dataset("engine", simulate(configs[split])) for split in ("train", "val"))
    model = families.make("engine", metadata["seed"])
    model.fit(train, val, metadata["size"], lambda line: print(f"  reference: {line}", flush=True))
    return model, metrics.choose_threshold(val.targets["fails_soon"], model.predict(val.x)["fails_soon"])


def evaluate(artifact: Path, vehicles: int, days: int, seeds: list[int],
             reference: bool = False) -> dict[str, dict[str, list[dict]]]:
    """model (ARTIFACT, and REFERENCE if asked) -> condition -> the metrics on one fleet per seed."""
    model, metadata = load(artifact)
    if metadata["family"] != "engine":
        raise SystemExit(f"{artifact} is a {metadata['family']} model; this compares engine classifiers")
    models = {ARTIFACT: (model, metadata["thresholds"]["fails_soon"])}
    if reference:
        models[REFERENCE] = reference_model(metadata)
    results: dict[str, dict[str, list[dict]]] = {name: {} for name in models}
    for condition, settings in CONDITIONS.items():
        for seed in seeds:
            data = family_dataset("engine", simulate(FleetConfig(vehicles, days, seed=seed, id_prefix="shift",
                                                                 **settings)))
            for name, (candidate, threshold) in models.items():
                scores = metrics.classification(data.targets["fails_soon"],
                                                candidate.predict(data.x)["fails_soon"], threshold)
                results[name].setdefault(condition, []).append(scores)
                print(f"  {condition}, seed {seed}, {name}: F1 {scores['f1']:.2f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--vehicles", type=int, default=120)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102])
    parser.add_argument("--reference", action="store_true",
                        help="also train and score a model on fleets in the unseen conditions")
    args = parser.parse_args()
    results = evaluate(args.artifact, args.vehicles, args.days, args.seeds, args.reference)
    print(f"{args.artifact}: {args.vehicles} vehicles x {args.days} days per fleet, mean of seeds {args.seeds}")
    print(f" {'model':17s} {'condition':32s} {'F1':>5s} {'precision':>9s} {'recall':>6s} {'FPR':>6s}")
    for name, by_condition in results.items():
        for condition, runs in by_condition.items():
            mean = {k: float(np.mean([r[k] for r in runs])) for k in ("f1", "precision", "recall", "fpr")}
            print(f" {name:17s} {condition:32s} {mean['f1']:5.2f} {mean['precision']:9.2f} "
                  f"{mean['recall']:6.2f} {mean['fpr']:6.3f}")


if __name__ == "__main__":
    main()
