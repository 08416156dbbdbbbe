"""``shadowgap change``: record a router change from CI or a deploy script, list changes.

Talks to a running shadowgap over HTTP (``POST /v1/changes``, ``GET /v1/changes``) with an
admin key from ``SHADOWGAP_CHANGE_API_KEY`` (or ``--api-key``), so a pipeline needs no
database access. Exit status: 0 recorded, 1 refused (the server's message names the field),
2 bad usage, 3 the server could not be reached.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer

change_app = typer.Typer(help="Router changes: record one that went live, list them.")

Url = Annotated[
    str,
    typer.Option(envvar="SHADOWGAP_CHANGE_API_URL", help="Base URL of a running shadowgap."),
]
Key = Annotated[
    str | None,
    typer.Option(envvar="SHADOWGAP_CHANGE_API_KEY", help="Admin bearer key (read for list)."),
]


def _at(text: str) -> datetime:
    """ISO 8601; 'now' for the current time; a time without zone is taken as UTC."""
    if text == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {text!r}", param_hint="--at") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _call(method: str, url: str, key: str | None, **kwargs: Any) -> dict[str, Any]:
    if not key:
        typer.echo("shadowgap: set SHADOWGAP_CHANGE_API_KEY (or pass --api-key)", err=True)
        raise typer.Exit(2)
    try:
        response = httpx.request(
            method, url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0, **kwargs
        )
    except httpx.HTTPError as exc:
        typer.echo(f"shadowgap: cannot reach {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(3) from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code >= 400:
        field = (
            (body.get("detail") or {}).get("field")
            if isinstance(body.get("detail"), dict)
            else None
        )
        where = f" ({field})" if field else ""
        typer.echo(f"shadowgap: {response.status_code}{where}: {body.get('error')}", err=True)
        raise typer.Exit(1)
    return body


@change_app.command("record")
def record(
    scope: Annotated[
        str, typer.Option(help="Segment key or router-visible slice, e.g. tenant=hooli.")
    ],
    at: Annotated[str, typer.Option(help="When it went live: ISO 8601, or 'now'.")] = "now",
    description: Annotated[str, typer.Option(help="What changed.")] = "",
    proposal: Annotated[str | None, typer.Option(help="The proposal id it implements.")] = None,
    predicted: Annotated[
        str | None,
        typer.Option(
            help='Predicted effect as JSON, e.g. \'{"cost_per_day": {"value": 3, "ci": [2, 4]}}\'.'
        ),
    ] = None,
    url: Url = "http://127.0.0.1:8000",
    api_key: Key = None,
) -> None:
    """Record that a router change went live (CI: run it right after the deploy)."""
    body: dict[str, Any] = {
        "scope": scope,
        "at": _at(at).isoformat(),
        "description": description,
        "proposal_id": proposal,
    }
    if predicted is not None:
        try:
            body["predicted"] = json.loads(predicted)
        except ValueError:
            raise typer.BadParameter("not JSON", param_hint="--predicted") from None
    change = _call("POST", f"{url.rstrip('/')}/v1/changes", api_key, json=body)
    typer.echo(f"change {change['id']} recorded for {change['scope']} at {change['at']}")


@change_app.command("list")
def list_(
    scope: Annotated[str | None, typer.Option(help="Only this scope's changes.")] = None,
    url: Url = "http://127.0.0.1:8000",
    api_key: Key = None,
) -> None:
    """Recorded changes, newest first, with their verification status."""
    params = {"scope": scope} if scope else {}
    body = _call("GET", f"{url.rstrip('/')}/v1/changes", api_key, params=params)
    for change in body["items"]:
        typer.echo(
            f"{change['id']:>5}  {change['at']}  {change['status']:<9}  {change['scope']}  "
            f"{change['description']}"
        )
