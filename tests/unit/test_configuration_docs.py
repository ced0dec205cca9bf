"""docs/configuration.md has an entry for every environment variable the settings read."""

import re
from pathlib import Path

from cluster.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def variable_of(name: str, field) -> str:
    """The variable pydantic-settings reads a field from: its alias, else the prefixed name."""
    if field.validation_alias is not None:
        return field.validation_alias.choices[0]
    return f"{StackSettings.model_config['env_prefix']}{name}".upper()


READ = {variable_of(name, field) for name, field in StackSettings.model_fields.items()}
DOCUMENTED = set(re.findall(r"^### `([A-Z_]+)`$", (ROOT / "docs" / "configuration.md").read_text(), re.M))


def test_every_variable_the_settings_read_is_documented():
    assert READ - DOCUMENTED == set()


def test_every_documented_variable_is_read():
    assert DOCUMENTED - READ == set()
