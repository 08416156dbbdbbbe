"""A proposal's patches read by the routers' own code.

The LiteLLM fragment is loaded by the real ``litellm`` proxy's config loader (1.110.2 with the
modules its proxy server imports, in a cached sidecar virtualenv: tests/support/sidecar_venv.py)
and its Router sends the tagged request to the flagship and the untagged one to the cheap
model. The RouteLLM model name is parsed by RouteLLM 0.2.0's own ``_parse_model_name`` and
routed by its ``Router.route`` (installed ``--no-deps``: its routers need torch and weights,
tests/support/router_config_checks.py says how the two functions run without them).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from shadowgap.attribution.proposals import request_tag
from shadowgap.attribution.router_formats import (
    litellm_tag_fragment,
    litellm_yaml,
    routellm_model_name,
)
from tests.support.settings import ROOT
from tests.support.sidecar_venv import sidecar_python

CHECKS = ROOT / "tests" / "support" / "router_config_checks.py"
# litellm's proxy extra is a separate package the index does not carry for 1.110.2: these are
# the modules litellm.proxy.proxy_server imports, pinned.
LITELLM_PROXY = [
    "litellm==1.110.2",
    "APScheduler==3.11.3",
    "backoff==2.2.1",
    "cryptography==51.0.1",
    "Expression==5.8.0",
    "fastapi==0.165.0",
    "fastapi-sso==0.23.0",
    "gunicorn==27.0.1",
    "mcp==2.3.0",
    "orjson==3.13.0",
    "PyJWT==2.15.1",
    "PyNaCl==1.6.2",
    "python-multipart==0.0.34",
    "PyYAML==6.0.4",
    "rq==3.0.0",
    "semver==3.2.0",
    "soundfile==0.14.0",
    "uvicorn==0.55.0",
    "websockets==17.4",
]
ROUTELLM = ["--no-deps", "routellm==0.2.0"]


def _run(python: Path, *args: str) -> dict:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result = subprocess.run(
        [str(python), str(CHECKS), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "conditions",
    [{"tenant": "hooli"}, {"tag:lang=": "de"}, {"team": "ml", "api_key_alias": "batch"}],
)
def test_litellm_loads_the_fragment_and_routes_the_tag(tmp_path: Path, conditions: dict) -> None:
    python = sidecar_python("litellm-proxy", LITELLM_PROXY)
    tag = request_tag(conditions)
    fragment = litellm_tag_fragment("chat", "openai/big-model", "openai/small-model", tag)
    config = tmp_path / "config.yaml"
    config.write_text(litellm_yaml(fragment, "a proposal\nsecond line"))
    seen = _run(python, "litellm", str(config), tag)
    assert seen == {
        "enable_tag_filtering": True,
        "deployments": 2,
        "tagged": "big-model",
        "untagged": "small-model",
    }


@pytest.mark.parametrize("threshold", [0.11593, 0.3, 0.0, 0.999999])
def test_routellm_parses_the_model_name(threshold: float) -> None:
    python = sidecar_python("routellm", ROUTELLM)
    name = routellm_model_name("mf", threshold)
    parsed = _run(python, "routellm", name, str(threshold - 1e-6))
    assert parsed["router"] == "mf"
    assert parsed["threshold"] == pytest.approx(threshold, abs=1e-5)
    # Just under the threshold: RouteLLM sends it to the weak (cheap) model; at it, strong.
    assert parsed["routed_to"] == "weak"
    assert _run(python, "routellm", name, str(round(threshold, 5) + 1e-6))["routed_to"] == "strong"


def test_router_names_routellm_cannot_parse_are_refused() -> None:
    with pytest.raises(ValueError, match="no '-'"):
        routellm_model_name("my-router", 0.2)
