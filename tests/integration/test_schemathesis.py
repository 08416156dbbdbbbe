"""Schemathesis against the app's own OpenAPI schema, on a live server over PostgreSQL: no
request it generates (valid and invalid, on every operation, ingest bodies included) gets a
5xx, and every documented response (422s included) matches its documented schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.live_api import start_api
from tests.support.processes import free_port

# Per operation; with the coverage phase's boundary values this is about 3,000 requests.
MAX_EXAMPLES = 40
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


# Hypothesis parses the source of the lambdas in its strategies to describe them, and CPython
# 3.11's AST constructor keeps its recursion depth in state shared by threads: two schemathesis
# worker threads parsing at once fail with "SystemError: AST constructor recursion depth
# mismatch" (3 of 3 runs with --workers 2 on hypothesis 6.170). Schemathesis reports that as a
# runtime error of the run, not as a finding about the API, so the run uses one worker, and a
# run that still hits it is repeated with the next seed. Any finding (a 5xx, a response off its
# schema) fails the test at once.
ATTEMPTS = 3
# One key that may ingest, read and administer, so that every operation is reached.
FUZZ_KEY = "fuzz-key-0123456789"
FUZZER_CRASH = "AST constructor recursion depth mismatch"


def _schemathesis(port: int, seed: int, report_dir: Path) -> subprocess.CompletedProcess[str]:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency"
    return subprocess.run(
        [
            cli,
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--header",
            f"Authorization: Bearer {FUZZ_KEY}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(seed),
            "--generation-database",
            "none",
            "--generation-allow-x00",
            "true",
            # The workers' readiness probe answers 503 by design while no worker runs (none
            # does in this test); its 503 is the check itself, not a server error.
            "--exclude-path",
            "/readyz/workers",
            "--request-timeout",
            "30",
            "--workers",
            "1",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(report_dir),
        ],
        cwd=report_dir.parent,  # schemathesis keeps a cache in its working directory
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_schemathesis_finds_no_server_error(production: str, tmp_path: Path) -> None:
    port = free_port()
    api = start_api(
        port,
        os.environ["SHADOWGAP_DATABASE_URL"],
        os.environ["SHADOWGAP_BROKER_URL"],
        tmp_path / "api.log",
        api_keys=f"{FUZZ_KEY},admin:{FUZZ_KEY}",
    )
    try:
        schema = httpx.get(
            f"http://127.0.0.1:{port}/openapi.json",
            headers={"Authorization": f"Bearer {FUZZ_KEY}"},
            timeout=10,
        ).json()
        assert "requestBody" in schema["paths"]["/v1/events"]["post"]
        for attempt in range(ATTEMPTS):
            run = _schemathesis(port, 20261201 + attempt, tmp_path / f"schemathesis-{attempt}")
            output = run.stdout + run.stderr
            print(output[-4000:])
            assert "Failures:" not in output, output[-12000:]
            if run.returncode == 0 or FUZZER_CRASH not in output:
                break
    finally:
        api.terminate()
        api.wait(timeout=30)
    assert run.returncode == 0, output[-12000:]
