"""The README's quick-space YAML is the bundled file's (satseg/configs/space_quick.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_shows_the_quick_space_file():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"space_quick\.yaml`[^\n]*\n(?:[^\n]*\n)?\n```yaml\n(.*?)```", readme, re.S)
    assert match, "the README names satseg/configs/space_quick.yaml above a yaml block"
    shown = yaml.safe_load(match.group(1))
    assert shown == yaml.safe_load((ROOT / "satseg/configs/space_quick.yaml").read_text())
