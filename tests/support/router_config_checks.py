"""Run inside the sidecar virtualenvs: read a proposal's patch with the router's own code.

``litellm CONFIG TAG`` loads CONFIG with the LiteLLM proxy's config loader
(``ProxyConfig.load_config``, what ``litellm --config`` runs at start-up) and sends one request
tagged TAG and one untagged through the Router it built, with ``mock_response`` (no network),
printing which deployment answered each as JSON.

``routellm NAME SCORE`` parses NAME with RouteLLM's ``Controller._parse_model_name`` and routes
a request whose strong-win rate is SCORE with ``Router.route``. Importing ``routellm.controller``
would load torch and the routers' weights, so both functions are compiled from RouteLLM's
installed source files and run as they are; only the score is given instead of computed.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def _litellm(config: str, tag: str) -> dict[str, Any]:
    from litellm.proxy.proxy_server import ProxyConfig

    async def run() -> dict[str, Any]:
        router, models, _ = await ProxyConfig().load_config(router=None, config_file_path=config)
        group = models[0]["model_name"]
        messages = [{"role": "user", "content": "hi"}]
        tagged = await router.acompletion(
            model=group, messages=messages, metadata={"tags": [tag]}, mock_response="ok"
        )
        untagged = await router.acompletion(model=group, messages=messages, mock_response="ok")
        return {
            "enable_tag_filtering": router.enable_tag_filtering,
            "deployments": len(models),
            "tagged": tagged.model,
            "untagged": untagged.model,
        }

    return asyncio.run(run())


def _source(module: str) -> ast.Module:
    spec = importlib.util.find_spec("routellm")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / module
    return ast.parse(path.read_text())


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise LookupError(f"{cls}.{name} not in RouteLLM's source")


def _routellm(name: str, score: float) -> dict[str, Any]:
    controller = _source("controller.py")
    routers = _source(str(Path("routers") / "routers.py"))
    error = next(
        n for n in controller.body if isinstance(n, ast.ClassDef) and n.name == "RoutingError"
    )
    body = [error, _function(controller, "Controller", "_parse_model_name")]
    body.append(_function(routers, "Router", "route"))
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), "routellm", "exec"), namespace)
    router, threshold = namespace["_parse_model_name"](None, name)
    scored = SimpleNamespace(calculate_strong_win_rate=lambda prompt: score)
    pair = SimpleNamespace(strong="strong", weak="weak")
    return {
        "router": router,
        "threshold": threshold,
        "routed_to": namespace["route"](scored, "a prompt", threshold, pair),
    }


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "litellm":
        print(json.dumps(_litellm(args[0], args[1])))
    else:
        print(json.dumps(_routellm(args[0], float(args[1]))))
