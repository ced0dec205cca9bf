"""Per-window features: tabular statistics for the XGBoost families and gap-filled channels for
the sequence model. One function per family so that training and serving compute the same
thing from the same PID windows."""

from __future__ import annotations

import warnings

import numpy as np

from ml.simulator import ENGINE_OFF_SAMPLES, SAMPLE_SECONDS

ENGINE_PIDS = ["RPM", "SPEED", "ENGINE_LOAD", "THROTTLE_POS", "COOLANT_TEMP", "INTAKE_TEMP"]
# The engine model compares today's trip with one ENGINE_LAG_DAYS earlier: a fault's severity in
# one trip says how bad it is, its growth since then says how soon it fails.
ENGINE_LAG_DAYS = 7
ENGINE_PAST_CHANNELS = [f"{pid}@-{ENGINE_LAG_DAYS}d" for pid in ENGINE_PIDS]
ENGINE_CHANNELS = ENGINE_PIDS + ENGINE_PAST_CHANNELS
BATTERY_FEATURES = ["rest_voltage", "crank_voltage", "crank_sag", "running_voltage", "idle_voltage",
                    "min_running_voltage", "keyon_intake_temp", "mean_load"]
BRAKE_FEATURES = ["km_since_pad_change", "mean_speed", "speed_std", "stops_per_km", "brakings_per_km",
                  "harsh_brakings_per_km", "decel_energy_per_km", "estimated_brake_energy"]
INPUT_NAMES = {"engine": ENGINE_CHANNELS, "battery": BATTERY_FEATURES, "brakes": BRAKE_FEATURES}
HARSH_DECEL = 3.0  # m/s^2
BRAKING_DECEL = 1.0


def fill_gaps(windows: np.ndarray) -> np.ndarray:
    """(N, C, T) with NaN dropouts -> the last good value carried forward (the window's channel
    mean before the first good one), as a live window would be."""
    x = windows.copy()
    good = ~np.isnan(x)
    index = np.where(good, np.arange(x.shape[2]), 0)
    np.maximum.accumulate(index, axis=2, out=index)
    x = np.take_along_axis(x, index, axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(windows, axis=2, keepdims=True)
    return np.where(np.isnan(x), np.nan_to_num(np.broadcast_to(mean, x.shape)), x).astype(np.float32)


def engine_windows(signals: dict[str, np.ndarray]) -> np.ndarray:
    """(vehicles x days, len(ENGINE_CHANNELS), T) from (vehicles, days, samples) signals: the
    running part of each day's trip, then of the trip ENGINE_LAG_DAYS earlier (all NaN, so
    zeros once filled, where there is none)."""
    now = np.stack([signals[pid][..., ENGINE_OFF_SAMPLES + 1:] for pid in ENGINE_PIDS], axis=-2)
    past = np.full_like(now, np.nan)
    past[:, ENGINE_LAG_DAYS:] = now[:, :-ENGINE_LAG_DAYS]
    stacked = np.concatenate([now, past], axis=-2)
    return fill_gaps(stacked.reshape(-1, *stacked.shape[-2:]))


def battery_features(signals: dict[str, np.ndarray]) -> np.ndarray:
    """Rest voltage (state of charge), crank sag (internal resistance), charging voltage at idle
    and on the move (acceptance), key-on intake temperature (battery temperature proxy)."""
    volts = signals["CONTROL_MODULE_VOLTAGE"]
    running = slice(ENGINE_OFF_SAMPLES + 1, None)
    idle = signals["SPEED"][..., running] < 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rest = np.nanmean(volts[..., :ENGINE_OFF_SAMPLES], axis=-1)
        crank = volts[..., ENGINE_OFF_SAMPLES]
        columns = [rest, crank, rest - crank, np.nanmean(volts[..., running], axis=-1),
                   np.nanmean(np.where(idle, volts[..., running], np.nan), axis=-1),
                   np.nanmin(volts[..., running], axis=-1),
                   np.nanmean(signals["INTAKE_TEMP"][..., :ENGINE_OFF_SAMPLES], axis=-1),
                   np.nanmean(signals["ENGINE_LOAD"][..., running], axis=-1)]
    return np.stack(columns, axis=-1).reshape(-1, len(BATTERY_FEATURES))


def brake_features(signals: dict[str, np.ndarray], km_since_pad_change: np.ndarray) -> np.ndarray:
    """Braking style from the speed trace (how often, how hard, how much kinetic energy per km),
    times the distance since the pads were changed: wear is energy dissipated."""
    speed = signals["SPEED"][..., ENGINE_OFF_SAMPLES + 1:].astype(float)
    ms = speed / 3.6
    decel = -np.diff(ms, axis=-1) / SAMPLE_SECONDS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        km = np.maximum(np.nansum(speed, axis=-1) * SAMPLE_SECONDS / 3600, 0.1)
        stops = np.nansum((speed[..., 1:] < 3) & (speed[..., :-1] >= 3), axis=-1)
        energy = np.nansum(np.where(decel > 0.5, ms[..., :-1] ** 2 - ms[..., 1:] ** 2, 0), axis=-1) / 2000
        energy_per_km = energy / km
        columns = [km_since_pad_change, np.nanmean(speed, axis=-1), np.nanstd(speed, axis=-1), stops / km,
                   np.nansum(decel > BRAKING_DECEL, axis=-1) / km, np.nansum(decel > HARSH_DECEL, axis=-1) / km,
                   energy_per_km, energy_per_km * km_since_pad_change]
    return np.stack(columns, axis=-1).reshape(-1, len(BRAKE_FEATURES))
