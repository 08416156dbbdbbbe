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


@pytest.mark.llama
def test_forked_and_passing():
    assert 2 + 2 == 4


@pytest.mark.llama
def test_forked_and_failing():
    assert 2 + 2 == 5
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
    # A forked test's own outcome comes back: a pass is a pass, a failure shows its assertion.
    assert "2 failed, 2 passed" in out, out
    assert "assert (2 + 2) == 5" in out, out
    assert "CRASHED with signal 11 (SIGSEGV)" in out, out
    # The faulthandler traceback names the line that crashed.
    assert "test_native_crash" in out and "test_crashing.py" in out, out
