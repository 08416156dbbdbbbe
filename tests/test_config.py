"""Settings that name something are checked when the settings load: a bad value stops
``serve``, ``worker`` and ``beat`` with one line naming the setting, never a 500 later."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shadowgap.config import InvalidSettings, get_settings
from tests.support.settings import ROOT


@pytest.mark.parametrize("command", ["serve", "worker", "beat"])
def test_a_typo_in_the_segment_dimensions_stops_the_process(command: str) -> None:
    env = {**os.environ, "SHADOWGAP_SEGMENT_DIMENSIONS": "tenant,tenat"}
    run = subprocess.run(
        [sys.executable, "-m", "shadowgap.cli.main", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [
        "shadowgap: invalid setting SHADOWGAP_SEGMENT_DIMENSIONS: unknown segment dimension "
        "'tenat': use tenant, team, user, api_key_alias, route_tier, route_model, "
        "tag:<prefix> or metadata.<key>"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SEGMENT_DIMENSIONS", "tag:", "unknown segment dimension 'tag:'"),
        ("JUDGE_BY_SEGMENT", '{"tenant=acme": "pairwize"}', "unknown judge(s) ['pairwize']"),
        ("ALERT_ROUTES", "slack:*; pagerdoodie:critical", "unknown channel 'pagerdoodie'"),
        ("ALERT_ROUTES", "slack:critcal", "unknown severities ['critcal']"),
        ("REPORT_DAY_OF_WEEK", "someday", "not a crontab day of week"),
        ("RECORDED_ANSWERS_PATH", "/nonexistent/answers.csv", "no such file"),
        ("LLAMA_MODEL_PATH", "/nonexistent/model.gguf", "no such file"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(f"SHADOWGAP_{variable}", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSettings) as raised:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(raised.value)
    assert message.startswith(f"invalid setting SHADOWGAP_{variable}: ")
    assert named in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SEGMENT_DIMENSIONS", "tenant,tag:lang=,metadata.service.name,route_tier"),
        ("JUDGE_BY_SEGMENT", '{"tenant=acme": "pairwise", "tenant=b": "answer-match"}'),
        ("ALERT_ROUTES", "slack:*; pagerduty:critical,error:tenant=acme*|tenant=b"),
        ("REPORT_DAY_OF_WEEK", "mon-fri"),
    ],
)
def test_good_values_load(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(f"SHADOWGAP_{variable}", value)
    get_settings.cache_clear()
    try:
        assert get_settings() is not None
    finally:
        get_settings.cache_clear()
