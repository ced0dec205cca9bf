"""Stack settings from the environment (pydantic-settings): every FLEETRAY_ variable read into
its field, checked up front, so a typo fails at start-up rather than silently keeping a default."""

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from cluster.settings import StackSettings, parse_webhook_secrets


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """Each test's settings keep their local secrets in its own directory."""
    monkeypatch.setenv("FLEETRAY_STATE_DIR", str(tmp_path))
    return tmp_path


def test_alert_rule_overrides_come_from_json(monkeypatch):
    monkeypatch.setenv("FLEETRAY_ALERT_RULES", '{"coolant_max_c": 105, "overrev_rpm": 5000}')
    assert StackSettings().alert_rules == {"coolant_max_c": 105.0, "overrev_rpm": 5000.0}


def test_no_alert_rule_overrides_by_default():
    assert StackSettings().alert_rules == {}


def test_an_unknown_alert_rule_is_refused(monkeypatch):
    monkeypatch.setenv("FLEETRAY_ALERT_RULES", '{"coolant_max": 105}')
    with pytest.raises(ValidationError, match="unknown alert rule"):
        StackSettings()


def test_shared_variables_are_read_without_the_prefix(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/fleetray")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    settings = StackSettings()
    assert (settings.database_url, settings.kafka_bootstrap_servers) == (
        "postgresql://db.example/fleetray", "kafka.example:9092")


def test_a_number_that_is_not_one_is_refused(monkeypatch):
    monkeypatch.setenv("FLEETRAY_VEHICLE_SHARDS", "two")
    with pytest.raises(ValidationError, match="vehicle_shards"):
        StackSettings()


def test_training_missing_models_is_switched_off_with_0(monkeypatch):
    monkeypatch.setenv("FLEETRAY_TRAIN_MISSING_MODELS", "0")
    assert StackSettings().train_missing_models is False


def test_registry_defaults_to_the_state_dir(state_dir):
    assert StackSettings().model_registry_uri == str(state_dir / "registry")
    assert StackSettings(state_dir=Path("/srv/state")).model_registry_uri == "/srv/state/registry"


def test_registry_location_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLEETRAY_MODEL_REGISTRY_URI", "s3://bucket/models")
    assert StackSettings().model_registry_uri == "s3://bucket/models"


def test_webhook_secrets_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLEETRAY_WEBHOOK_SECRETS", "acme:a1, beta:b:2")
    assert StackSettings().webhook_secrets == {"acme": "a1", "beta": "b:2"}


def test_a_webhook_secret_without_its_tenant_is_refused():
    with pytest.raises(ValueError, match="tenant:secret"):
        parse_webhook_secrets("acme:a1,beta")


def test_the_local_stack_gets_a_private_secret_for_the_demo_tenant(state_dir):
    settings = StackSettings()
    path = state_dir / "webhook_secret"
    assert settings.webhook_secrets == {"demo": path.read_text()} and len(path.read_text()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StackSettings().webhook_secrets == settings.webhook_secrets, "created once, then reused"


def test_tokens_are_hs256_with_a_local_secret_without_a_jwks_url(state_dir):
    auth = StackSettings().auth
    assert (auth.algorithm, auth.secret) == ("HS256", (state_dir / "jwt_secret").read_text())


def test_a_jwks_url_switches_tokens_to_rs256(monkeypatch):
    monkeypatch.setenv("FLEETRAY_JWKS_URL", "https://idp.example/jwks")
    auth = StackSettings().auth
    assert (auth.algorithm, auth.jwks_url, auth.secret) == ("RS256", "https://idp.example/jwks", None)


def test_settings_are_not_changed_in_place():
    with pytest.raises(ValidationError, match="frozen"):
        StackSettings().database_url = "postgresql://elsewhere/fleetray"


def test_rate_limits_come_from_json_and_reach_the_api(monkeypatch):
    from cluster.deploy import api_args

    monkeypatch.setenv("FLEETRAY_RATE_LIMITS",
                       '{"bookings": {"caller": {"per_second": 5, "burst": 10}, "tenant": {"per_second": 50, "burst": 100}}}')
    settings = StackSettings(database_url="postgresql://db/x")
    assert set(settings.rate_limits) == {"bookings"}
    assert api_args(settings).rate_limits["bookings"].caller.burst == 10


def test_without_rate_limit_settings_the_api_has_the_defaults():
    from cluster.deploy import api_args
    from serve_apps.rate_limits import DEFAULT_RATE_LIMITS

    assert api_args(StackSettings(database_url="postgresql://db/x")).rate_limits == DEFAULT_RATE_LIMITS


def test_an_unknown_route_group_is_refused(monkeypatch):
    monkeypatch.setenv("FLEETRAY_RATE_LIMITS", '{"booking": {"caller": {"per_second": 5, "burst": 10}, '
                                               '"tenant": {"per_second": 50, "burst": 100}}}')
    with pytest.raises(ValidationError, match="unknown route group"):
        StackSettings()
