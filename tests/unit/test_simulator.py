"""The simulated degradation shows in the signals the docstring says, runs are reproducible,
and the splits are by vehicle with unseen test conditions."""

import numpy as np
import pytest

from ml import datasets
from ml.features import (ENGINE_HISTORY_DAYS, ENGINE_PIDS, ENGINE_SUMMARIES, battery_features, brake_features,
                         engine_histories, engine_trip_summaries)
from ml.simulator import ENGINE_OFF_SAMPLES, PIDS, FleetConfig, simulate


@pytest.fixture(scope="module")
def fleet():
    return simulate(FleetConfig(60, 40, ("temperate", "hot"), ("urban", "highway", "delivery"), (0.5, 1.0),
                                engine_fault_share=0.6, seed=3))


def test_signals_are_the_bridge_pids_in_physical_ranges(fleet):
    assert set(fleet.signals) == set(PIDS)
    assert fleet.signals["RPM"].shape == (60, 40, fleet.signals["RPM"].shape[2])
    assert 0.001 < np.isnan(fleet.signals["SPEED"]).mean() < 0.03  # dropouts
    running = fleet.signals["RPM"][..., ENGINE_OFF_SAMPLES + 1:]
    assert 600 < np.nanmedian(running) < 3500
    assert 13.5 < np.nanmedian(fleet.signals["CONTROL_MODULE_VOLTAGE"][..., -1]) < 14.9


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # idle-free windows have no idle spread
def test_engine_degradation_raises_coolant_under_load_and_rpm_roughness(fleet):
    severe = fleet.in_service & (fleet.engine_severity > 0.5)
    healthy = fleet.engine_severity == 0
    coolant = np.nanmax(fleet.signals["COOLANT_TEMP"], axis=2)
    idle = np.where(fleet.signals["SPEED"] < 3, fleet.signals["RPM"], np.nan)[..., ENGINE_OFF_SAMPLES + 1:]
    roughness = np.nanstd(idle, axis=2)
    assert severe.sum() > 20
    assert np.nanmean(coolant[severe]) > np.nanmean(coolant[healthy]) + 3
    assert np.nanmean(roughness[severe]) > 2 * np.nanmean(roughness[healthy])


def test_failing_label_precedes_failure_and_vehicle_leaves_service(fleet):
    failed = ~fleet.in_service[:, -1]
    assert failed.any()
    for v in np.nonzero(failed)[0][:5]:
        last = np.nonzero(fleet.in_service[v])[0].max()
        assert fleet.engine_fails_soon[v, last]
        assert fleet.engine_fails_soon[v].sum() <= 15


def test_a_failure_after_the_simulated_days_is_labelled_too(fleet):
    """Close to failure on the last simulated day (severity 0.7 leaves at most 0.16 x 45 days):
    labelled as failing soon, though the failure itself lies after the simulation."""
    close = fleet.in_service[:, -1] & (fleet.engine_severity[:, -1] > 0.7)
    assert close.any() and fleet.engine_fails_soon[close, -1].all()


def test_weak_batteries_sag_more_and_rest_lower(fleet):
    x = battery_features(fleet.signals).reshape(60, 40, -1)
    weak, strong = fleet.battery_soh < 0.7, fleet.battery_soh > 0.9
    assert weak.any() and strong.any()
    assert np.nanmean(x[..., 2][weak]) > np.nanmean(x[..., 2][strong]) + 0.5  # crank sag
    assert np.nanmean(x[..., 0][weak]) < np.nanmean(x[..., 0][strong])  # rest voltage
    assert np.all(np.diff(fleet.battery_soh, axis=1) < 0)
    assert np.all(np.diff(fleet.battery_rul_days, axis=1) <= 0)


def test_brakes_wear_monotonically_and_faster_in_stop_and_go(fleet):
    assert np.all(np.diff(fleet.brake_wear_pct, axis=1) > 0)
    assert fleet.brake_wear_pct.max() < 100
    per_km = np.diff(fleet.brake_wear_pct, axis=1) / np.diff(fleet.km_since_pad_change, axis=1)
    assert per_km[fleet.duty == "delivery"].mean() > 2 * per_km[fleet.duty == "highway"].mean()
    x = brake_features(fleet.signals, fleet.km_since_pad_change)
    assert x.shape == (60 * 40, 8) and not np.isnan(x).any()


def test_same_seed_same_fleet_other_seed_other_fleet():
    config = FleetConfig(5, 3, ("cold",), ("urban",), (1.0, 1.0), seed=11)
    a, b = simulate(config), simulate(config)
    c = simulate(FleetConfig(5, 3, ("cold",), ("urban",), (1.0, 1.0), seed=12))
    np.testing.assert_array_equal(a.signals["RPM"], b.signals["RPM"])
    assert not np.array_equal(a.signals["RPM"], c.signals["RPM"], equal_nan=True)
    assert config.fingerprint() == FleetConfig(5, 3, ("cold",), ("urban",), (1.0, 1.0), seed=11).fingerprint()
    assert config.fingerprint() != FleetConfig(5, 3, ("cold",), ("urban",), (1.0, 1.0), seed=12).fingerprint()


def test_engine_histories_hold_each_days_trip_summary_oldest_first_and_nothing_before_the_first_day():
    fleet = simulate(FleetConfig(4, 3, ("cold",), ("urban",), (2.0, 2.0), seed=1))
    histories = engine_histories(fleet.signals).reshape(4, 3, len(ENGINE_SUMMARIES), ENGINE_HISTORY_DAYS)
    trips = engine_trip_summaries({pid: fleet.signals[pid][..., ENGINE_OFF_SAMPLES + 1:] for pid in ENGINE_PIDS}).astype(np.float32)
    np.testing.assert_array_equal(histories[:, 2, :, -3:], trips.transpose(0, 2, 1))  # days 0, 1, 2 of day 2
    np.testing.assert_array_equal(histories[:, 1, :, -1], trips[:, 1])
    assert np.isnan(histories[:, 2, :, :-3]).all(), "no trip before the first day"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_misfire_summaries_follow_severity_and_not_climate_payload_or_sensor_noise():
    """A healthy engine summarises alike in a cold town van with quiet sensors and a hot, heavy
    delivery van with noisy ones (the test split's conditions), while a misfire moves both
    summaries: the model can carry what it learnt to conditions it never saw."""
    def summaries(climate, duty, noise, share):
        fleet = simulate(FleetConfig(40, 20, (climate,), (duty,), (noise, noise), engine_fault_share=share, seed=9))
        trips = engine_trip_summaries({pid: fleet.signals[pid][..., ENGINE_OFF_SAMPLES + 1:] for pid in ENGINE_PIDS})
        return trips, fleet.engine_severity
    cold, _ = summaries("cold", "urban", 0.5, 0.0)
    hot, _ = summaries("hot", "delivery", 2.0, 0.0)
    for i, tolerance in ((0, 0.02), (1, 10.0)):  # load per throttle; idle roughness, rpm
        assert abs(np.nanmedian(cold[..., i]) - np.nanmedian(hot[..., i])) < tolerance, ENGINE_SUMMARIES[i]
    faulty, severity = summaries("hot", "delivery", 2.0, 1.0)
    severe = severity > 0.5
    assert np.nanmedian(faulty[..., 0][severe]) < np.nanmedian(hot[..., 0]) - 0.04
    assert np.nanmedian(faulty[..., 1][severe]) > np.nanmedian(hot[..., 1]) + 40


def test_splits_share_no_vehicle_and_test_conditions_are_unseen():
    configs = datasets.split_configs("small", seed=5)
    fleets = {name: simulate(c) for name, c in configs.items()}
    ids = [set(f.vehicle_ids) for f in fleets.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    seen_climates = set(fleets["train"].climate) | set(fleets["val"].climate)
    seen_duties = set(fleets["train"].duty) | set(fleets["val"].duty)
    assert not set(fleets["test"].climate) & seen_climates
    assert not set(fleets["test"].duty) & seen_duties
    assert fleets["test"].noise.mean() > fleets["train"].noise.max()
    rows = datasets.family_dataset("battery", fleets["test"])
    assert set(rows.vehicle_ids) <= set(fleets["test"].vehicle_ids)
    assert len({d.fingerprint for d in (datasets.family_dataset("battery", f) for f in fleets.values())}) == 3
