"""The README keeps its promises: two set-up commands, every setting documented."""

from __future__ import annotations

from shadowgap.config import Settings
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"SHADOWGAP_{name.upper()}" not in readme]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in readme and "./dev demo" in readme
    assert "./dev test" in ci
