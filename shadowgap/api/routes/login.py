"""Dashboard sign-in with a read or admin key, and sign-out.

When an SSO proxy is configured (``SHADOWGAP_SSO_USER_HEADER``) people never see this page:
the proxy's header signs them in. The form posts back here (no script), the key is checked
like a bearer key, and a signed session cookie is set: HttpOnly, SameSite=Lax (never sent on a
cross-site POST; links from Slack still open signed in), Secure unless turned off. Only the
key's fingerprint goes into the cookie and the audit log.

Every attempt is counted before its key is checked; past ``SHADOWGAP_LOGIN_MAX_FAILURES``
failures from the client or for the key's prefix the form answers 429 without checking the key
(see :mod:`shadowgap.api.auth.throttle`). Sign-out ends the session on the server (every API
process refuses its cookie from then on); the user's other sessions go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shadowgap.api import audit
from shadowgap.api.auth import keys, sessions, throttle
from shadowgap.api.auth.access import check_csrf, check_same_origin, client_host, identify
from shadowgap.api.dashboard.templating import templates
from shadowgap.api.deps import db_session, settings
from shadowgap.config import Settings
from shadowgap.enums import AuditAction, AuditVia
from shadowgap.errors import InvalidInput

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 8192


def _safe_next(value: str | None) -> str:
    # Only a path on this server: "//evil.example" or "https://..." would be an open redirect.
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("form too large", field="body")
    fields = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _page(request: Request, next_url: str, error: str | None, status: int = 200) -> Response:
    return templates.TemplateResponse(
        request,
        "login.html",
        {"title": "Sign in", "nav": "", "next": next_url, "error": error},
        status_code=status,
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return _page(request, _safe_next(next), None)


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: a session cookie, a wait (throttled) or neither."""

    cookie: str | None = None
    retry_after: int | None = None


def _sign_in(db: Session, config: Settings, key: str, name: str, host: str | None) -> SignIn:
    policy = throttle.Policy.for_login(config)
    names = throttle.buckets(config, policy, host, key)
    now = time.time()
    # Counted (and committed) before the key is checked, so that concurrent attempts from
    # every API process see each other and no more than the limit are ever checked.
    wait = throttle.count(db, policy, names, now)
    db.commit()
    if wait is not None:
        return SignIn(retry_after=wait)
    grant = keys.grant_for(key, config)
    scope = None
    if grant is not None and keys.ADMIN in grant.scopes:
        scope = keys.ADMIN
    elif grant is not None and keys.READ in grant.scopes:
        scope = keys.READ
    if grant is None or scope is None:
        return SignIn()
    user = f"{name} (key {grant.fingerprint})" if name else f"key {grant.fingerprint}"
    throttle.release(db, policy, names, now)  # a sign-in is no failure
    cookie, _ = sessions.issue(db, config, user, grant.fingerprint, scope)
    audit.record(
        db,
        actor=user,
        via=AuditVia.SESSION,
        action=AuditAction.SIGN_IN,
        at=datetime.now(UTC),
        detail={"scope": scope},
    )
    db.commit()
    return SignIn(cookie=cookie)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    db: Session = Depends(db_session),
    config: Settings = Depends(settings),
) -> Response:
    check_same_origin(request, config)  # no signing a victim into someone else's session
    fields = await _form(request)
    next_url = _safe_next(fields.get("next"))
    key = fields.get("key", "")
    name = " ".join(fields.get("name", "").split())[:80]
    outcome = (
        await run_in_threadpool(_sign_in, db, config, key, name, client_host(request))
        if key
        else SignIn()
    )
    if outcome.retry_after is not None:
        # The same answer for a right and a wrong key: the form must not confirm a guess.
        page = _page(
            request,
            next_url,
            f"Too many failed sign-ins. Try again in {outcome.retry_after} seconds.",
            status=429,
        )
        page.headers["Retry-After"] = str(outcome.retry_after)
        return page
    if outcome.cookie is None:
        # One message for both: the form must not tell which keys exist.
        return _page(request, next_url, "That key is not a read or admin key.", status=401)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        outcome.cookie,
        max_age=int(config.session_hours * 3600),
        httponly=True,
        secure=config.session_cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


def _sign_out(db: Session, request: Request, config: Settings, form_token: str | None) -> None:
    """End the session the cookie names (only that one), after the CSRF check."""
    principal = identify(request, config, db)
    if principal is None:
        return  # no live session: nothing to end, the cookie is cleared all the same
    check_csrf(request, principal, config, form_token)
    session = sessions.read_cookie(config, request.cookies.get(sessions.COOKIE_NAME))
    if session is None:
        return
    sessions.end(db, session)
    audit.record(
        db,
        actor=session.user,
        via=AuditVia.SESSION,
        action=AuditAction.SIGN_OUT,
        at=datetime.now(UTC),
    )
    db.commit()


@router.post("/logout")
async def logout(
    request: Request,
    db: Session = Depends(db_session),
    config: Settings = Depends(settings),
) -> Response:
    form_token = (await _form(request)).get("csrf_token")
    await run_in_threadpool(_sign_out, db, request, config, form_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        sessions.COOKIE_NAME,
        path="/",
        secure=config.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response
