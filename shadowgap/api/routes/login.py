"""Dashboard sign-in with a read or admin key, and sign-out.

When an SSO proxy is configured (``SHADOWGAP_SSO_USER_HEADER``) people never see this page:
the proxy's header signs them in. The form posts back here (no script), the key is checked
like a bearer key, and a signed session cookie is set: HttpOnly, SameSite=Lax (never sent on a
cross-site POST; links from Slack still open signed in), Secure unless turned off. Only the
key's fingerprint goes into the cookie and the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from shadowgap.api import audit
from shadowgap.api.auth import keys, sessions
from shadowgap.api.auth.access import check_csrf, check_same_origin, identify
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


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: Session = Depends(db_session),
    config: Settings = Depends(settings),
) -> Response:
    check_same_origin(request, config)  # no signing a victim into someone else's session
    fields = await _form(request)
    next_url = _safe_next(fields.get("next"))
    grant = keys.grant_for(fields.get("key", ""), config) if fields.get("key") else None
    scope = None
    if grant is not None and keys.ADMIN in grant.scopes:
        scope = keys.ADMIN
    elif grant is not None and keys.READ in grant.scopes:
        scope = keys.READ
    if grant is None or scope is None:
        # One message for both: the form must not tell which keys exist.
        return _page(request, next_url, "That key is not a read or admin key.", status=401)
    name = " ".join(fields.get("name", "").split())[:80]
    user = f"{name} (key {grant.fingerprint})" if name else f"key {grant.fingerprint}"
    cookie, _ = sessions.issue(config, user, grant.fingerprint, scope)
    audit.record(
        session,
        actor=user,
        via=AuditVia.SESSION,
        action=AuditAction.SIGN_IN,
        at=datetime.now(UTC),
        detail={"scope": scope},
    )
    session.commit()
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        cookie,
        max_age=int(config.session_hours * 3600),
        httponly=True,
        secure=config.session_cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, config: Settings = Depends(settings)) -> Response:
    principal = identify(request, config)
    if principal is not None:
        check_csrf(request, principal, config, (await _form(request)).get("csrf_token"))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        sessions.COOKIE_NAME,
        path="/",
        secure=config.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response
