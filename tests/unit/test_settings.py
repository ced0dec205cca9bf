"""Stack settings from the environment: alert-rule overrides are parsed and checked up front,
so a typo fails at start-up rather than silently keeping a default."""

import pytest
from pydantic import ValidationError

from cluster.settings import StackSettings


def test_alert_rule_overrides_come_from_json():
    settings = StackSettings.from_env({"FLEETRAY_ALERT_RULES": '{"coolant_max_c": 105, "overrev_rpm": 5000}'})
    assert settings.alert_rules == {"coolant_max_c": 105.0, "overrev_rpm": 5000.0}
    assert StackSettings.from_env({}).alert_rules == {}


def test_an_unknown_alert_rule_is_refused():
    with pytest.raises(ValidationError, match="unknown alert rule"):
        StackSettings.from_env({"FLEETRAY_ALERT_RULES": '{"coolant_max": 105}'})
