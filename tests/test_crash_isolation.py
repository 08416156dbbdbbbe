"""A test that segfaults fails alone: the suite after it still runs (tests.support plugin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CRASHING = """
import faulthandler

import pytest


@pytest.mark.llama
def test_native_crash():
    faulthandler._sigsegv()


def test_runs_after_the_crash():
    assert 1 + 1 == 2
"""


def test_a_segfaulting_llama_test_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "test_crashing.py").write_text(CRASHING)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.support.crash_isolation",
            "-p",
            "no:cacheprovider",
            "-o",
            "markers=llama: loads llama.cpp",
            "-q",
            str(tmp_path / "test_crashing.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "CRASHED with signal 11 (SIGSEGV)" in out, out
    # The faulthandler traceback names the line that crashed.
    assert "test_native_crash" in out and "test_crashing.py" in out, out
