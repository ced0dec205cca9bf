"""Instances from JSON against a version's input spec, and which version a request goes to."""

import numpy as np
import pytest

from ml.inputs import MAX_INSTANCES, InputError, to_array
from ml.registry import ServedModel, ServedVersion

ROWS = {"features": ["a", "b"]}
WINDOWS = {"channels": ["RPM", "SPEED"], "window": 4}


def test_rows_keep_the_spec_order_and_null_is_a_dropout():
    x = to_array(ROWS, [{"b": 2.0, "a": 1.0}, {"a": None, "b": 3}])
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1, 2], [np.nan, 3]])


def test_window_dropouts_are_filled_as_in_training():
    x = to_array(WINDOWS, [{"RPM": [800, None, 900, None], "SPEED": [None, 10, 20, 30]}])
    assert x.shape == (1, 2, 4)
    np.testing.assert_array_equal(x[0, 0], [800, 800, 900, 900])  # carried forward
    np.testing.assert_array_equal(x[0, 1], [20, 10, 20, 30])       # the channel mean before the first value


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
