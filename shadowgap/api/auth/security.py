"""Response headers and error rendering every app serving shadowgap pages installs.

Policies:

- dashboard pages and the JSON API: a strict Content-Security-Policy (scripts and styles from
  this origin only, no inline script, no framing), ``X-Frame-Options: DENY``, ``nosniff``,
  ``Referrer-Policy: same-origin`` (URLs hold segment keys: none leaves for
  another site, while same-origin form posts keep their Origin header, which no-referrer
  would turn into "null"), ``Cache-Control: no-store``;
- the weekly report's Evidently HTML (``/reports/{id}/content``) sets its own policy: a CSP
  ``sandbox allow-scripts`` (an opaque origin: its inline scripts run but can read no cookie,
  storage or API of the dashboard) that only this server may frame;
- ``/docs`` (Swagger UI, which FastAPI loads from jsDelivr with an inline bootstrap script).

A route that sets its own Content-Security-Policy keeps it; everything else gets the strict one.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shadowgap.api.auth.access import LoginRequired, login_url

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# Evidently's bundle and each dashboard's data are inline scripts, its styles inline too; the
# sandbox (no allow-same-origin) is what contains them.
REPORT_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")

COMMON = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """Pure ASGI middleware (streams pass through untouched) adding the headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                csp = DOCS_CSP if path in DOCS_PATHS else DASHBOARD_CSP
                defaults = {
                    **COMMON,
                    b"content-security-policy": csp.encode(),
                    b"x-frame-options": b"DENY",
                    b"cache-control": b"no-store",
                }
                if b"content-security-policy" in present:
                    # The route chose its policy (the framed report): keep its framing rules.
                    defaults.pop(b"x-frame-options")
                headers += [(k, v) for k, v in defaults.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """The security headers and the pages' login redirect (errors are rendered by
    :func:`shadowgap.api.errors.install`)."""
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_url), status_code=303)
