"""The real API as a uvicorn process of its own, for tests that need a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.processes import free_port, wait_healthy
from tests.support.settings import API_KEY, ROOT


def start_api(
    port: int, database_url: str, broker_url: str, log: Path, api_keys: str = API_KEY
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHADOWGAP_DATABASE_URL": database_url,
        "SHADOWGAP_BROKER_URL": broker_url,
        "SHADOWGAP_API_KEYS": api_keys,
        "SHADOWGAP_LOG_LEVEL": "WARNING",
    }
    handle = log.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "shadowgap.api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    if wait_healthy(f"http://127.0.0.1:{port}"):
        return process
    process.kill()
    raise RuntimeError(f"API did not start:\n{log.read_text()[-3000:]}")


def start_apis(
    count: int, database_url: str, broker_url: str, log_dir: Path, api_keys: str = API_KEY
) -> list[tuple[int, subprocess.Popen[bytes]]]:
    """``count`` API processes on one database (the API scaled out), started side by side;
    (port, process) for each."""
    ports = [free_port() for _ in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(
                start_api, port, database_url, broker_url, log_dir / f"api{port}.log", api_keys
            )
            for port in ports
        ]
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:  # one did not start: stop the others and report why
        for future in futures:
            if future.exception() is None:
                future.result().kill()
        raise errors[0]
    return [(port, future.result()) for port, future in zip(ports, futures, strict=True)]
