"""Signing a browser in to the dashboard of a keyed server: a form, a session cookie.

Browsers do not send bearer keys on their own, so ``GET /dashboard`` without a key used to be
a bare 401. Now a browser (one that asks for HTML) is sent to a server-rendered form (no
script, nothing fetched) that takes a ``read`` or ``admin`` key once. The cookie it sets:

- holds a random session token (``serving.sessions``), never the key;
- is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (no cross-site frame, fetch, image
  or form POST carries it; a plain link from elsewhere does, and every route that accepts the
  cookie is a GET that only reads), ``Path=/dashboard`` (the browser sends it nowhere else)
  and ``Secure`` when the request came over https;
- is accepted by the dashboard's page only: the API's guards (``access``) read the
  ``Authorization`` header and nothing else, so a signed-in browser lends no page any power;
- is checked against the ``KeyStore`` on every request, so a key revoked or expired after
  the sign-in is refused at the next refresh.

A request that does send ``Authorization`` (or ``X-API-Key``), or does not ask for HTML, is
answered exactly as the API answers: JSON 401 or 403.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from freshrec.serving.access import authorize
from freshrec.serving.auth import Scope
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.dashboard.markup import STYLE, e
from freshrec.serving.errors import ApiError

__all__ = ["COOKIE", "DASHBOARD_SCOPES", "gate", "router"]

router = APIRouter(tags=["dashboard"])

COOKIE = "freshrec_dashboard"
COOKIE_PATH = "/dashboard"
SIGN_IN = "/dashboard/sign-in"
SIGN_OUT = "/dashboard/sign-out"
DASHBOARD_SCOPES = frozenset({Scope.READ, Scope.ADMIN})
# A key is ~70 characters; a form body beyond this is not a sign-in.
MAX_FORM_BYTES = 4096
# The form takes a secret: no script may run on it, nothing may frame it (clickjacking),
# and it may post only to this server.
SIGN_IN_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_FORM_STYLE = """
.sign-in{max-width:36em;margin:3em auto}
.sign-in form{display:flex;gap:.5em;margin:.8em 0;align-items:center}
.sign-in input{flex:1;font-family:ui-monospace,'DejaVu Sans Mono',monospace}
code{background:#f3f4f6;padding:0 .25em;border-radius:3px}
"""
Reason = Literal["out", "session", "key"]
_REASONS: dict[str, str] = {
    "out": "Signed out.",
    "session": "Your sign-in has ended (it lasts 8 hours, and a server restart ends it).",
    "key": "The key you signed in with is no longer valid (revoked or expired).",
}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _cross_site(request: Request) -> bool:
    """Whether the browser says a form post came from another site (a forged sign-in)."""
    return request.headers.get("sec-fetch-site") == "cross-site"


def _to_sign_in(reason: Reason | None, forget_cookie: bool) -> RedirectResponse:
    target = SIGN_IN if reason is None else f"{SIGN_IN}?reason={reason}"
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    if forget_cookie:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response


def gate(request: Request, ctx: ServingContext) -> tuple[Response | None, bool]:
    """Decide whether ``request`` may see the dashboard.

    Returns:
        ``(None, signed_in)`` when it may (``signed_in``: through a sign-in cookie, so the
        page offers to sign out), else ``(response, False)``: a redirect to the sign-in form.

    Raises:
        ApiError: 401 or 403 for requests that send a key header or do not ask for HTML,
            as the API's own guards answer.
    """
    if ctx.open_access:
        return None, False
    headers = request.headers
    if "authorization" in headers or "x-api-key" in headers:
        authorize(ctx, headers, DASHBOARD_SCOPES)
        return None, False
    token = request.cookies.get(COOKIE)
    reason: Reason | None = None
    if token:
        key = ctx.sessions.key_of(token)
        scope = ctx.keys.authenticate(key) if key is not None and ctx.keys else None
        if scope in DASHBOARD_SCOPES:
            return None, True
        ctx.sessions.close(token)
        reason = "session" if key is None else "key"
    if not _wants_html(request):
        authorize(ctx, headers, DASHBOARD_SCOPES)  # raises: no key was sent
    return _to_sign_in(reason, forget_cookie=token is not None), False


def _form_page(message: str = "", status: int = 200) -> HTMLResponse:
    note = f"<p class=warn role=alert>{e(message)}</p>" if message else ""
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        "<link rel=icon href='data:,'><title>Sign in · freshrec dashboard</title>"
        f"<style>{STYLE}{_FORM_STYLE}</style></head><body>"
        "<header><h1>freshrec</h1><a href=/docs>API docs</a></header>"
        "<main><section class=sign-in><h2>Sign in to the dashboard</h2>"
        f"{note}<p>This server checks API keys. Paste a <b>read</b> or <b>admin</b> key, "
        "e.g. one from <code>freshrec keys create --data DIR --scope read</code>.</p>"
        f"<form method=post action={SIGN_IN}><label for=key>API key</label>"
        "<input id=key name=key type=password required autofocus autocomplete=off "
        "spellcheck=false placeholder='fr_…'><button>Sign in</button></form>"
        "<p class=note>The browser keeps a random session token, not the key, in a cookie "
        "sent to the dashboard only; the key is checked again on every page, and the "
        "sign-in lasts 8 hours or until you sign out.</p></section></main></body></html>"
    )
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": SIGN_IN_POLICY,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(page, status_code=status, headers=headers)


async def _read_form(request: Request) -> dict[str, str]:
    """Return a small url-encoded form body's fields (the first value of each).

    Raises:
        ApiError: 413 past ``MAX_FORM_BYTES``, 400 for a body that is not such a form.
    """
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ApiError(413, "payload_too_large", f"a sign-in is under {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid", "the body is not a sign-in form") from None
    return {name: values[0] for name, values in fields.items()}


@router.get(SIGN_IN, response_class=HTMLResponse, include_in_schema=False)
def sign_in_form(
    ctx: Ctx, reason: Annotated[Reason | None, Query(description="Why the form is shown.")] = None
) -> Response:
    """Return the sign-in form (in open access there is nothing to sign in to)."""
    if ctx.open_access:
        return RedirectResponse("/dashboard", status_code=303)
    return _form_page(_REASONS[reason] if reason else "")


@router.post(SIGN_IN, response_class=HTMLResponse, include_in_schema=False)
async def sign_in(request: Request, ctx: Ctx) -> Response:
    """Check the posted key; on success set the session cookie and go to the dashboard.

    A wrong key shows the form again with what was wrong (401; 403 for an ``ingest`` key).
    """
    if ctx.open_access:
        return RedirectResponse("/dashboard", status_code=303)
    if _cross_site(request):
        raise ApiError(403, "forbidden", "a sign-in must come from this server's own form")
    key = (await _read_form(request)).get("key", "").strip()
    if not key:
        return _form_page("Enter an API key.", 401)
    scope = ctx.keys.authenticate(key) if ctx.keys else None
    if scope is None:
        return _form_page("Unknown, revoked or expired API key: check it and try again.", 401)
    if scope not in DASHBOARD_SCOPES:
        return _form_page(
            f"A key with scope {scope.value!r} cannot open the dashboard: use a read or admin key.",
            403,
        )
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        ctx.sessions.open(key),
        max_age=int(ctx.sessions.lifetime_seconds),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


@router.post(SIGN_OUT, include_in_schema=False)
def sign_out(request: Request, ctx: Ctx) -> Response:
    """Forget this browser's session and its cookie, then show the sign-in form.

    A POST (the page's button), not a link: a GET must not change anything, and link
    prefetchers would otherwise sign people out.
    """
    if _cross_site(request):
        raise ApiError(403, "forbidden", "a sign-out must come from the dashboard's own button")
    token = request.cookies.get(COOKIE)
    if token:
        ctx.sessions.close(token)
    return _to_sign_in("out", forget_cookie=True)
