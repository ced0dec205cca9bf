"""docs/configuration.md has an entry for every environment variable the settings read."""

import re
from pathlib import Path

import cluster.settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_variable_the_settings_read_is_documented():
    source = Path(cluster.settings.__file__).read_text()
    read = set(re.findall(r'env(?:\.get)?[\[(]"([A-Z_]+)"', source))
    documented = set(re.findall(r"^### `([A-Z_]+)`$", (ROOT / "docs" / "configuration.md").read_text(), re.M))
    assert read, "no variables found: the pattern no longer matches how settings.py reads them"
    assert read - documented == set()
