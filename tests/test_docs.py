"""The README stays true to the code: every setting documented, the two commands present."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_table():
    documented = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?", README, re.M))
    keys = {k for pair in documented for k in pair if k}
    assert set(Settings.model_fields) - keys == set()


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_one():
    assert re.search(r"^make run\b", README, re.M)
    assert re.search(r"^make test\b", README, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_shipped_examples_are_valid():
    from gateway.decide.load import load_policy
    from gateway.settings import load_settings

    settings = load_settings({}, environ={}, config_file=ROOT / "docs" / "postvagt.yaml")
    assert settings.database.startswith("postgresql://")
    for policy in (ROOT / "policies").rglob("*.yaml"):
        load_policy(policy)
    unit = (ROOT / "docs" / "postvagt.service").read_text()
    assert "ExecStart=/opt/postvagt/.venv/bin/postvagt run" in unit
