"""Model inputs as the API receives them, checked against the input spec a version's metadata
declares (ml/train.py `input`), so a wrong shape gets an error that names the problem.

An instance is a JSON object keyed by name: feature -> number for the tabular families,
channel -> list of `window` numbers for the sequence model (the engine's daily trip summaries,
oldest first). null is missing (NaN): a sensor dropout, or a day without a trip.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ml.features import INPUT_NAMES

Instance = dict[str, float | None | Sequence[float | None]]
MAX_INSTANCES = 256


class InputError(ValueError):
    """The instances do not fit the model's input spec; the message says where."""


def input_names(spec: dict) -> list[str]:
    """The names an instance must have: channels of a window, or features of a row."""
    return spec["channels"] if "channels" in spec else spec["features"]


def layout_problem(family: str, spec: dict) -> str | None:
    """Why a version of `family` trained for the inputs in `spec` cannot run in this release
    (an older input layout: its weights would not fit), or None when it can."""
    trained_for, takes = input_names(spec), INPUT_NAMES[family]
    if trained_for == takes:
        return None
    return (f"a {family} model for inputs {', '.join(trained_for)}; this release's takes {', '.join(takes)}: "
            f"train and promote a new one (fleetray model train {family})")


def json_number(value: float) -> float | None:
    """A value as an instance carries it: NaN (a dropout) as null."""
    return None if np.isnan(value) else float(value)


def to_instances(names: Sequence[str], x: np.ndarray,
                 number: Callable[[float], float | None] = json_number) -> list[Instance]:
    """The inverse of to_array: instances from (N, features) rows or (N, channels, window)
    windows, keyed by `names`."""
    if x.ndim == 3:
        return [{name: [number(v) for v in channel] for name, channel in zip(names, window)} for window in x]
    return [{name: number(v) for name, v in zip(names, row)} for row in x]


def to_array(spec: dict, instances: Sequence[Instance]) -> np.ndarray:
    """(N, features) rows or (N, channels, window) windows, float32."""
    if not instances:
        raise InputError("instances: expected at least one instance")
    if len(instances) > MAX_INSTANCES:
        raise InputError(f"instances: at most {MAX_INSTANCES} per request, got {len(instances)}")
    if "channels" in spec:
        return np.stack([_window(spec["channels"], spec["window"], i, instance) for i, instance in enumerate(instances)])
    return np.stack([_row(spec["features"], i, instance) for i, instance in enumerate(instances)])


def _check_names(expected: list[str], i: int, instance: Instance) -> None:
    missing = [name for name in expected if name not in instance]
    unknown = sorted(set(instance) - set(expected))
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise InputError(f"instances[{i}]: {'; '.join(problems)} (expected {', '.join(expected)})")


def _row(features: list[str], i: int, instance: Instance) -> np.ndarray:
    _check_names(features, i, instance)
    for name in features:
        if isinstance(instance[name], (list, tuple)):
            raise InputError(f"instances[{i}].{name}: expected a number or null, got a list")
    return np.array([instance[name] for name in features], dtype=np.float32)


def _window(channels: list[str], window: int, i: int, instance: Instance) -> np.ndarray:
    _check_names(channels, i, instance)
    for name in channels:
        values = instance[name]
        if not isinstance(values, (list, tuple)):
            raise InputError(f"instances[{i}].{name}: expected a list of {window} numbers, got a single value")
        if len(values) != window:
            raise InputError(f"instances[{i}].{name}: expected {window} values, got {len(values)}")
    return np.array([instance[name] for name in channels], dtype=np.float32)
