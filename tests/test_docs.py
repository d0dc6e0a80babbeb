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


def test_every_cpr_shaped_number_outside_tests_is_fictional():
    """shared/DOMAIN.md section 7: a CPR-shaped number in code, comments, docs or README is
    one tests/fictional.py generated (seeds 0-9), so an "improbable" one — a real date
    other than 1 January whose serial fails modulus 11 (no such number has been issued).
    The quick start's is seed 0's, and the test of the quick start sends that one."""
    import random
    import subprocess

    from gateway.detect.recognizers import dk_cpr
    from tests import fictional

    shaped = re.compile(r"(?<!\d)(\d{6})[-\u2013\u00a0 ]?(\d{4})(?!\d)")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    generated = {fictional.cpr(random.Random(seed), separator="") for seed in range(10)}
    found = []
    for name in tracked:
        if name.startswith("tests/"):
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # pictures: the screenshots show masked values only (the browser test)
        for match in shaped.finditer(text):
            digits = match.group(1) + match.group(2)
            born = dk_cpr.birth_date(digits)
            if born is None:
                continue  # not a date: an account number, a reference
            found.append(match.group(0))
            assert digits in generated, f"{name}: {match.group(0)} is not a generated number"
            assert not fictional.mod11_ok(digits), f"{name}: {match.group(0)} passes mod 11"
            assert (born.month, born.day) != (1, 1), f"{name}: {match.group(0)} is 1 January"
    assert found  # the check reads something
    assert f"Mit CPR-nr. er {fictional.cpr(random.Random(0))}" in README
