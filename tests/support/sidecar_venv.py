"""A cached virtualenv beside the project's, for tests that drive real sender packages.

The packages users run in front of shadowgap (litellm, the OpenTelemetry instrumentations of the
``openai`` client) pin ``openai``, ``opentelemetry-*`` and ``httpx`` to their own ranges, and
those ranges move every week. Installed into the project's virtualenv they would fight its pins
and slow every install; so each set runs in its own virtualenv under
``~/.cache/shadowgap/sidecars/<name>-<hash of the requirements>``. The first test run installs it
from the package registry (pip's cache makes later builds cheap); every later run, and every
fresh clone on the same machine, reuses it. A test talks to it only over HTTP and subprocesses,
which is how a real sender talks to shadowgap too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.settings import require

CACHE_ROOT = Path(
    os.environ.get(
        "SHADOWGAP_SIDECAR_CACHE",
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shadowgap" / "sidecars",
    )
)
INSTALL_TIMEOUT_S = 900


def _key(name: str, requirements: Sequence[str]) -> str:
    spec = "\n".join([name, sys.version, *sorted(requirements)])
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def sidecar_python(name: str, requirements: Sequence[str]) -> Path:
    """The python of a virtualenv holding exactly ``requirements`` (pin them: ``pkg==x.y``).

    Built once under a file lock (parallel test processes wait for one build). A build that
    fails skips the test on a developer's machine and fails it in CI, like Chromium."""
    root = CACHE_ROOT / f"{name}-{_key(name, requirements)}"
    python = root / "bin" / "python"
    done = root / ".complete"
    if done.exists():
        return python
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [base, "-m", "venv", str(root)],
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *requirements],
        ]  # fmt: skip
        for step in steps:
            result = subprocess.run(
                step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
            )
            if result.returncode != 0:
                shutil.rmtree(root, ignore_errors=True)
                tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
                require(False, f"sidecar virtualenv {name} did not install: {' | '.join(tail)}")
        done.write_text("\n".join(requirements) + "\n")
    return python
