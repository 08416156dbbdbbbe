"""The dashboard's Jinja environment, with what every page needs to know about its viewer."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from shadowgap import bidi
from shadowgap.api.auth.access import Principal, csrf_token_for
from shadowgap.api.auth.keys import ADMIN
from shadowgap.config import Settings, get_settings

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# Tenants, keys, titles and prompts are the senders' text: bidi controls in them must not
# reorder the page around them (shadowgap/bidi.py). Set before any template is compiled.
templates.env.finalize = bidi.finalize


def viewer(request: Request) -> Principal | None:
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def csrf_token(request: Request) -> str:
    settings = getattr(request.state, "settings", None)
    if not isinstance(settings, Settings):
        settings = get_settings()
    return csrf_token_for(viewer(request), settings)


def is_admin(request: Request) -> bool:
    principal = viewer(request)
    return principal is not None and principal.may(ADMIN)


templates.env.globals.update(viewer=viewer, csrf_token=csrf_token, is_admin=is_admin)
