"""Train, validation and test sets for each model family, split by vehicle.

Each split is its own simulated fleet (its own seed and vehicle id prefix), so no vehicle is in
two splits. Train and validation share operating conditions; the test fleet runs in a climate
and a duty cycle that training never saw, with noisier sensors, to measure how the models
hold up out of distribution. The fingerprint of a dataset hashes the generating configs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ml import features
from ml.simulator import Fleet, FleetConfig, simulate

SEEN = {"climates": ("cold", "temperate"), "duties": ("urban", "highway"), "noise": (0.5, 1.0)}
UNSEEN = {"climates": ("hot",), "duties": ("delivery",), "noise": (1.0, 2.0)}
# vehicles in train / validation / test, days simulated per vehicle
SIZES = {"small": (80, 30, 30, 60), "medium": (200, 60, 60, 90), "full": (600, 200, 200, 120)}
SPLITS = ("train", "val", "test")
FAMILIES = ("engine", "battery", "brakes")


def split_configs(size: str, seed: int, train_conditions: dict = SEEN) -> dict[str, FleetConfig]:
    """The three fleets; train_conditions other than SEEN are for reference models (see
    ml/condition_shift.py), never for an artifact."""
    n_train, n_val, n_test, days = SIZES[size]
    return {
        "train": FleetConfig(n_train, days, seed=seed, id_prefix="train", **train_conditions),
        "val": FleetConfig(n_val, days, seed=seed + 1, id_prefix="val", **train_conditions),
        "test": FleetConfig(n_test, days, seed=seed + 2, id_prefix="test", **UNSEEN),
    }


@dataclass
class Dataset:
    """Rows are in-service vehicle-days. x is (rows, summaries, days) for the sequence model,
    (rows, features) for tabular ones; targets are named arrays aligned with the rows."""

    x: np.ndarray
    targets: dict[str, np.ndarray]
    vehicle_ids: np.ndarray
    fingerprint: str


def family_dataset(family: str, fleet: Fleet) -> Dataset:
    rows = fleet.in_service.reshape(-1)
    if family == "engine":
        x = features.engine_histories(fleet.signals)
        targets = {"fails_soon": fleet.engine_fails_soon}
    elif family == "battery":
        x = features.battery_features(fleet.signals)
        targets = {"soh": fleet.battery_soh, "rul_days": fleet.battery_rul_days}
    elif family == "brakes":
        x = features.brake_features(fleet.signals, fleet.km_since_pad_change)
        targets = {"wear_pct": fleet.brake_wear_pct}
    else:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    vehicles = np.repeat(fleet.vehicle_ids, fleet.in_service.shape[1])
    fingerprint = hashlib.sha256(f"{family}:{fleet.config.fingerprint()}".encode()).hexdigest()
    return Dataset(x[rows], {k: v.reshape(-1)[rows] for k, v in targets.items()}, vehicles[rows], fingerprint)


def build(family: str, size: str, seed: int) -> dict[str, Dataset]:
    return {name: family_dataset(family, simulate(config)) for name, config in split_configs(size, seed).items()}


def fingerprint(datasets: dict[str, Dataset]) -> str:
    """One hash for the three splits together: what the artifact was trained and tested on."""
    return hashlib.sha256("".join(datasets[s].fingerprint for s in SPLITS).encode()).hexdigest()
