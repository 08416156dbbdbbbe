"""A proposed routing change written in the formats routers read.

- **LiteLLM proxy** (route a slice to the flagship): a ``config.yaml`` fragment with two
  deployments of one model group, the flagship tagged with the slice's tag and the cheap model
  tagged ``default``, and ``router_settings.enable_tag_filtering: true``. LiteLLM's tag routing
  then sends requests carrying the tag (``metadata.tags`` of the request, or the tags of the
  key or team that sends it) to the flagship and every untagged request to the ``default``
  deployment.
- **RouteLLM** (move a threshold): the model name ``router-<router>-<threshold>`` a client
  calls to route with that threshold; RouteLLM sends a request to the strong model when the
  router's strong-win rate is at or above the threshold, i.e. cheap below it (shadowgap's
  ``router_cheap_when=below``). The threshold is the recommendation on this segment's own
  scores, so it is calibrated on its traffic.
- **A generic JSON rule** for any other router: the scope's conditions and the action.
"""

from __future__ import annotations

from typing import Any

import yaml

# RouteLLM parses ``float(name.split("-", 2)[2])``: five decimals keep a score's resolution.
THRESHOLD_DECIMALS = 5
DEFAULT_TAG = "default"


def routellm_model_name(router: str, threshold: float) -> str:
    """RouteLLM's model name for ``router`` at ``threshold``.

    >>> routellm_model_name("mf", 0.116)
    'router-mf-0.116'
    """
    if not router or "-" in router:
        # RouteLLM splits the name on the first two '-': a router name with one would not parse.
        raise ValueError(f"a RouteLLM router name has no '-': {router!r}")
    text = f"{threshold:.{THRESHOLD_DECIMALS}f}".rstrip("0").rstrip(".")
    return f"router-{router}-{text or '0'}"


def litellm_tag_fragment(
    model_group: str, flagship_model: str, cheap_model: str, tag: str
) -> dict[str, Any]:
    """The proxy config that sends requests tagged ``tag`` to the flagship."""
    return {
        "model_list": [
            {
                "model_name": model_group,
                "litellm_params": {"model": flagship_model, "tags": [tag]},
            },
            {
                "model_name": model_group,
                "litellm_params": {"model": cheap_model, "tags": [DEFAULT_TAG]},
            },
        ],
        "router_settings": {"enable_tag_filtering": True},
    }


def litellm_yaml(fragment: dict[str, Any], comment: str) -> str:
    """The fragment as YAML, ``comment`` above it (each line a YAML comment)."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + yaml.safe_dump(fragment, sort_keys=False)


def json_rule(
    conditions: dict[str, str], action: str, *, threshold: float | None, cheap_when: str
) -> dict[str, Any]:
    """The change as a router-neutral rule: match ``conditions`` (all of them), then act."""
    rule: dict[str, Any] = {"match": dict(conditions), "action": action}
    if threshold is not None:
        rule["route_score_threshold"] = round(threshold, THRESHOLD_DECIMALS)
        rule["cheap_when_score_is"] = cheap_when
    return rule
