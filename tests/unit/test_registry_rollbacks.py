"""Where the registry lives by default and from the environment, and which stable version a
rollback returns to after a sequence of promotions and rollbacks."""

from pathlib import Path

from cluster.settings import StackSettings
from ml.registry import previous_stable


def test_registry_defaults_to_the_state_dir_and_env_overrides(tmp_path):
    assert StackSettings(state_dir=Path("/srv/state")).model_registry_uri == "/srv/state/registry"
    env = {"FLEETRAY_STATE_DIR": str(tmp_path)}
    assert StackSettings.from_env(env).model_registry_uri == str(tmp_path / "registry")
    env["FLEETRAY_MODEL_REGISTRY_URI"] = "s3://bucket/models"
    assert StackSettings.from_env(env).model_registry_uri == "s3://bucket/models"


def test_rollbacks_walk_back_through_promotions():
    assert previous_stable([]) is None
    assert previous_stable([("promote", 1)]) is None
    history = [("promote", 1), ("canary", 1), ("promote", 2), ("promote", 2), ("abort_canary", 2), ("promote", 3)]
    assert previous_stable(history) == 2, "re-promoting the stable version is not a step back"
    history.append(("rollback", 2))
    assert previous_stable(history) == 1, "a second rollback goes further back, not to 3"
    history += [("rollback", 1), ("promote", 4)]
    assert previous_stable(history) == 1
