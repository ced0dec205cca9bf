"""Per-window features: tabular statistics for the XGBoost families, and per-trip summaries
whose daily history the engine's sequence model reads. One function per family so that
training and serving compute the same thing from the same PID windows."""

from __future__ import annotations

import warnings

import numpy as np

from ml.simulator import ENGINE_OFF_SAMPLES, SAMPLE_SECONDS

ENGINE_PIDS = ["RPM", "SPEED", "ENGINE_LOAD", "THROTTLE_POS", "COOLANT_TEMP"]
# Each trip is summarised by signs of the two engine faults that ambient heat, payload and sensor
# noise do not move (see engine_trip_summaries); the model reads them over the last
# ENGINE_HISTORY_DAYS days, one trip a day, because how fast a fault grows says when it fails.
ENGINE_SUMMARIES = ["load_per_throttle", "idle_rpm_roughness", "coolant_max", "coolant_rise"]
ENGINE_HISTORY_DAYS = 28
BATTERY_FEATURES = ["rest_voltage", "crank_voltage", "crank_sag", "running_voltage", "idle_voltage",
                    "min_running_voltage", "keyon_intake_temp", "mean_load"]
BRAKE_FEATURES = ["km_since_pad_change", "mean_speed", "speed_std", "stops_per_km", "brakings_per_km",
                  "harsh_brakings_per_km", "decel_energy_per_km", "estimated_brake_energy"]
INPUT_NAMES = {"engine": ENGINE_SUMMARIES, "battery": BATTERY_FEATURES, "brakes": BRAKE_FEATURES}
HARSH_DECEL = 3.0  # m/s^2
BRAKING_DECEL = 1.0
IDLE_KMH = 3.0
CLOSED_THROTTLE_LOAD_PCT = 10.0  # calculated load with the throttle closed (pumping and friction)
RPM_NOISE_PER_COOLANT_NOISE = 30.0  # sensor noise, RPM against coolant (15 rpm / 0.5 degC)
MIN_ENGINE_SAMPLES = 15  # running samples a trip needs before its summary means anything


def engine_trip_summaries(signals: dict[str, np.ndarray]) -> np.ndarray:
    """(..., len(ENGINE_SUMMARIES)) from the running part of trips, (..., samples) per PID with
    NaN dropouts; all NaN for a trip of fewer than MIN_ENGINE_SAMPLES RPM readings.

    - load_per_throttle: calculated load above its closed-throttle level per % of pedal. A
      misfiring engine needs more pedal for the same load; payload and climate move both alike.
    - idle_rpm_roughness: the spread of RPM at standstill (a robust one: median absolute
      deviation), less the sensor's own noise, which is read off the smooth coolant signal. A
      misfire shakes the crankshaft; white sensor noise, larger on some vehicles, does not count.
    - coolant_max, coolant_rise: how hot the trip ran and how far it warmed; a failing cooling
      system shows under load, more in hot air (the model sees its trend over days).
    """
    rpm, speed, load, throttle, coolant = (np.asarray(signals[pid], dtype=float) for pid in ENGINE_PIDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        load_per_throttle = ((np.nanmean(load, axis=-1) - CLOSED_THROTTLE_LOAD_PCT)
                             / np.maximum(np.nanmean(throttle, axis=-1), 1.0))
        coolant_noise = np.nanstd(np.diff(coolant, 2, axis=-1), axis=-1) / np.sqrt(6)
        idle_rpm = np.where(speed < IDLE_KMH, rpm, np.nan)
        spread = 1.4826 * np.nanmedian(np.abs(idle_rpm - np.nanmedian(idle_rpm, axis=-1, keepdims=True)), axis=-1)
        roughness = np.sqrt(np.clip(spread ** 2 - (RPM_NOISE_PER_COOLANT_NOISE * coolant_noise) ** 2, 0, None))
        coolant_max = np.nanmax(coolant, axis=-1)
        coolant_rise = np.nanmean(coolant[..., -20:], axis=-1) - np.nanmean(coolant[..., :10], axis=-1)
    summaries = np.stack([load_per_throttle, roughness, coolant_max, coolant_rise], axis=-1)
    too_short = (~np.isnan(rpm)).sum(axis=-1) < MIN_ENGINE_SAMPLES
    summaries[too_short] = np.nan
    return summaries


def engine_histories(signals: dict[str, np.ndarray]) -> np.ndarray:
    """(vehicles x days, len(ENGINE_SUMMARIES), ENGINE_HISTORY_DAYS) from (vehicles, days,
    samples) signals: for each vehicle-day, the summaries of that day's trip and of the
    ENGINE_HISTORY_DAYS - 1 days before, oldest first; NaN before the vehicle's first day."""
    trips = engine_trip_summaries({pid: signals[pid][..., ENGINE_OFF_SAMPLES + 1:] for pid in ENGINE_PIDS})
    vehicles, days, count = trips.shape
    padded = np.concatenate([np.full((vehicles, ENGINE_HISTORY_DAYS - 1, count), np.nan), trips], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, ENGINE_HISTORY_DAYS, axis=1)  # (V, D, F, H)
    return windows.reshape(vehicles * days, count, ENGINE_HISTORY_DAYS).astype(np.float32)


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
