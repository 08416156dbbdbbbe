"""Who is asking, and may they: API keys, SSO proxy headers, dashboard sessions, CSRF.

A request is authenticated by the first of

1. ``Authorization: Bearer <key>`` (scripts, Grafana, curl): the key's scopes;
2. the SSO proxy's user header (``SHADOWGAP_SSO_USER_HEADER``), believed only from
   ``SHADOWGAP_SSO_TRUSTED_PROXIES``: admin for ``SHADOWGAP_SSO_ADMINS``, read otherwise;
3. the dashboard session cookie set by ``/login``, while its session lives (see
   :mod:`shadowgap.api.auth.sessions`).

A wrong bearer key is a 401, or a 429 once its client or key prefix has sent too many (see
:mod:`shadowgap.api.auth.throttle`); a valid key is never throttled. The checks that use the
database (a wrong key is counted, a session cookie is looked up) take the request's session
(``deps.db_session``) and are synchronous: FastAPI runs the dependencies below in its thread
pool, and async routes call them through ``run_in_threadpool``.

State changes (ack, resolve, promote, sign-out) are POST-only and refuse cross-site requests:
``Sec-Fetch-Site`` must be same-origin when the browser sends it, ``Origin`` must be this
server when present, and a request authenticated by a cookie or proxy header (which a browser
attaches on its own) must carry the page's CSRF token. A bearer key is never attached by a
browser, so it needs no token.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session as DbSession

from shadowgap.api.auth import keys, sessions, throttle
from shadowgap.api.deps import db_session
from shadowgap.api.deps import settings as current_settings
from shadowgap.config import Settings
from shadowgap.enums import AuditVia
from shadowgap.errors import Forbidden, Unauthorized

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``name`` is what the audit log records."""

    name: str
    scopes: frozenset[str]
    via: AuditVia
    csrf_subject: str | None = None  # None: the caller needs no CSRF token (bearer keys)

    def may(self, scope: str) -> bool:
        return scope in self.scopes


class LoginRequired(Exception):
    """A dashboard page was asked for without a sign-in: redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def client_host(request: Request) -> str | None:
    """The caller's address as uvicorn reports it (behind a proxy: see docs/security.md)."""
    return request.client.host if request.client is not None else None


def _from_key(request: Request, settings: Settings, db: DbSession) -> Principal | None:
    token = keys.bearer_token(request.headers.get("authorization"))
    if token is None:
        return None
    grant = keys.grant_for(token, settings)
    if grant is None:
        # A wrong key is an error even where a cookie would do: never fall through silently.
        raise throttle.wrong_key(db, settings, client_host(request), token)
    return Principal(f"key:{grant.fingerprint}", grant.scopes, AuditVia.KEY)


def _trusted_proxy(request: Request, settings: Settings) -> bool:
    if request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    for network in settings.sso_trusted_proxies:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def _matches(entries: list[str], user: str, groups: set[str]) -> bool:
    for entry in entries:
        if entry.startswith("group:"):
            if entry[len("group:") :] in groups:
                return True
        elif entry.lower() == user.lower():
            return True
    return False


def _from_sso(request: Request, settings: Settings) -> Principal | None:
    if not settings.sso_user_header:
        return None
    user = (request.headers.get(settings.sso_user_header) or "").strip()
    if not user or not _trusted_proxy(request, settings):
        return None
    groups: set[str] = set()
    if settings.sso_groups_header:
        raw = request.headers.get(settings.sso_groups_header) or ""
        groups = {g.strip() for g in raw.split(",") if g.strip()}
    if _matches(settings.sso_admins, user, groups):
        scopes = keys.GRANTS[keys.ADMIN]
    elif not settings.sso_readers or _matches(settings.sso_readers, user, groups):
        scopes = keys.GRANTS[keys.READ]
    else:
        raise Forbidden(f"{user} may not use shadowgap (not in SHADOWGAP_SSO_READERS)")
    return Principal(user, scopes, AuditVia.SSO, csrf_subject=f"sso:{user}")


def _from_session(request: Request, settings: Settings, db: DbSession) -> Principal | None:
    session = sessions.read_cookie(settings, request.cookies.get(sessions.COOKIE_NAME))
    if session is None or session.scope not in (keys.READ, keys.ADMIN):
        return None
    # The key it was made from must still be configured with that scope (rotation signs out),
    # and for good: its sessions end, so putting the key back does not revive them.
    if not keys.fingerprint_has(session.key_fingerprint, session.scope, settings):
        sessions.end_for_key(db, session.key_fingerprint)
        db.commit()
        return None
    # Signed-out or ended sessions have no row: one primary-key read per cookie request.
    live = sessions.is_live(db, session)
    # End that read's transaction now: on SQLite every transaction holds the write lock, and a
    # route may open sessions of its own.
    db.commit()
    if not live:
        return None
    return Principal(
        session.user,
        keys.GRANTS[session.scope],
        AuditVia.SESSION,
        csrf_subject=f"session:{session.session_id}",
    )


def identify(request: Request, settings: Settings, db: DbSession) -> Principal | None:
    """The caller, or None when the request carries no credentials at all."""
    return (
        _from_key(request, settings, db)
        or _from_sso(request, settings)
        or _from_session(request, settings, db)
    )


def csrf_token_for(principal: Principal | None, settings: Settings) -> str:
    if principal is None or principal.csrf_subject is None:
        return ""
    return sessions.csrf_token(settings, principal.csrf_subject)


def _require(
    request: Request, settings: Settings, db: DbSession, scope: str, *, page: bool
) -> Principal:
    principal = identify(request, settings, db)
    if principal is None:
        if page:
            # The raw path: a segment key's encoded "/" must survive the round trip.
            raw = request.scope.get("raw_path") or request.url.path.encode()
            path = raw.decode("latin-1")
            target = path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <key>' with a read key"
        )
    if not principal.may(scope):
        raise Forbidden(f"this needs the {scope} scope")
    # Templates read both (the viewer's name, role and CSRF token).
    request.state.principal = principal
    request.state.settings = settings
    return principal


def require_read(
    request: Request,
    config: Settings = Depends(current_settings),
    db: DbSession = Depends(db_session),
) -> Principal:
    """The read API: 401 without credentials, 403 without the read scope."""
    return _require(request, config, db, keys.READ, page=False)


def require_read_page(
    request: Request,
    config: Settings = Depends(current_settings),
    db: DbSession = Depends(db_session),
) -> Principal:
    """Dashboard pages: send the browser to /login instead of a 401."""
    return _require(request, config, db, keys.READ, page=True)


def check_same_origin(request: Request, settings: Settings) -> None:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden(f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {request.headers.get("host", ""), urlsplit(settings.dashboard_url).netloc}
    parts = urlsplit(origin)
    if origin == "null" or not parts.netloc or parts.netloc not in allowed:
        raise Forbidden("cross-site request refused (Origin does not match this server)")


def check_csrf(
    request: Request, principal: Principal, settings: Settings, form_token: str | None = None
) -> None:
    """Refuse a state change that a page on another site could have triggered."""
    check_same_origin(request, settings)
    if principal.csrf_subject is None:
        return
    expected = csrf_token_for(principal, settings)
    given = request.headers.get(CSRF_HEADER) or form_token or ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("missing or invalid CSRF token (reload the page)")


def require_admin(
    request: Request,
    config: Settings = Depends(current_settings),
    db: DbSession = Depends(db_session),
) -> Principal:
    """Ack, resolve, promote: the admin scope and a same-site request with its CSRF token."""
    principal = _require(request, config, db, keys.ADMIN, page=False)
    check_csrf(request, principal, config)
    return principal


ReadAccess = Annotated[Principal, Depends(require_read)]
PageAccess = Annotated[Principal, Depends(require_read_page)]
AdminAccess = Annotated[Principal, Depends(require_admin)]


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")
