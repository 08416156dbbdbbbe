"""In CI (CI=true) a missing Chromium or llama.cpp fails the run; elsewhere it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.settings import ROOT

TESTS = ["tests/browser/test_pages.py", "tests/judging/test_llm_judges.py"]


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    hidden = tmp_path / "hidden"
    (hidden / "llama_cpp").mkdir(parents=True, exist_ok=True)
    (hidden / "llama_cpp" / "__init__.py").write_text(
        'raise ImportError("llama_cpp is hidden by this test")\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{hidden}{os.pathsep}{ROOT}",
        "SHADOWGAP_TEST_CHROMIUM": str(tmp_path / "no-chromium"),
    }
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_chromium_and_llama_fail_in_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, "true")
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode != 0, result.stdout[-2000:]
    assert "skipped" not in summary and ("failed" in summary or "error" in summary), summary
    assert "CI=true: a missing dependency fails the run" in result.stdout


def test_missing_chromium_and_llama_skip_outside_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, None)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in summary and "failed" not in summary, summary
