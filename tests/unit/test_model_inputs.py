"""Instances from JSON against a version's input spec, and which version a request goes to."""

import numpy as np
import pytest

from ml import live
from ml.features import ENGINE_HISTORY_DAYS, ENGINE_PIDS, ENGINE_SUMMARIES, engine_histories
from ml.inputs import MAX_INSTANCES, InputError, to_array
from ml.registry import ServedModel, ServedVersion
from ml.simulator import ENGINE_OFF_SAMPLES, FleetConfig, simulate

ROWS = {"features": ["a", "b"]}
WINDOWS = {"channels": ["RPM", "SPEED"], "window": 4}


def test_rows_keep_the_spec_order_and_null_is_a_dropout():
    x = to_array(ROWS, [{"b": 2.0, "a": 1.0}, {"a": None, "b": 3}])
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1, 2], [np.nan, 3]])


def test_windows_keep_the_spec_order_and_null_is_missing():
    x = to_array(WINDOWS, [{"SPEED": [None, 10, 20, 30], "RPM": [800, None, 900, None]}])
    assert x.shape == (1, 2, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], [[800, np.nan, 900, np.nan], [np.nan, 10, 20, 30]])


def test_a_live_engine_instance_is_the_training_history_of_the_same_trips():
    """Today's grids and the summaries of each earlier day's grids (None for a day without a
    trip) make the history training built from the same days."""
    fleet = simulate(FleetConfig(1, ENGINE_HISTORY_DAYS, ("temperate",), ("urban",), (1.0, 1.0), seed=5))
    grid = lambda day: {pid: [None if np.isnan(v) else float(v) for v in fleet.signals[pid][0, day, ENGINE_OFF_SAMPLES + 1:]]
                        for pid in ENGINE_PIDS}
    today = ENGINE_HISTORY_DAYS - 1
    history = [live.engine_trip_summary(grid(today - k)) for k in range(1, ENGINE_HISTORY_DAYS)]
    history[2] = None  # no trip three days before
    spec = {"channels": ENGINE_SUMMARIES, "window": ENGINE_HISTORY_DAYS}
    x = to_array(spec, [live.instance("engine", grid(today), history)])
    expected = engine_histories(fleet.signals)[today].copy()
    expected[:, today - 3] = np.nan
    np.testing.assert_allclose(x[0], expected, rtol=1e-5)
    with pytest.raises(live.NotEnoughData, match="RPM readings"):
        live.instance("engine", {pid: [None] * 124 for pid in ENGINE_PIDS}, history)


@pytest.mark.parametrize("spec, instances, message", [
    (ROWS, [], "at least one"),
    (ROWS, [{"a": 1.0}] * (MAX_INSTANCES + 1), f"at most {MAX_INSTANCES}"),
    (ROWS, [{"a": 1.0, "b": 1.0}, {"a": 1.0}], "instances[1]: missing b (expected a, b)"),
    (ROWS, [{"a": 1.0, "b": 1.0, "c": 1.0}], "instances[0]: unknown c"),
    (ROWS, [{"a": [1.0], "b": 1.0}], "instances[0].a: expected a number or null, got a list"),
    (WINDOWS, [{"RPM": 800, "SPEED": [1.0] * 4}], "instances[0].RPM: expected a list of 4 numbers"),
    (WINDOWS, [{"RPM": [1.0] * 4, "SPEED": [1.0] * 5}], "instances[0].SPEED: expected 4 values, got 5"),
])
def test_wrong_shapes_name_the_problem(spec, instances, message):
    with pytest.raises(InputError) as error:
        to_array(spec, instances)
    assert message in str(error.value)


def test_the_canary_takes_its_share_of_draws():
    stable, canary = (ServedVersion(v, role, {}, {}) for v, role in ((1, "stable"), (2, "canary")))
    model = ServedModel("battery", stable, canary, 30)
    draws = np.linspace(0, 1, 1000, endpoint=False)
    assert sum(model.choose(d) is canary for d in draws) == 300
    assert ServedModel("battery", stable, None, 0).choose(0.0) is stable
