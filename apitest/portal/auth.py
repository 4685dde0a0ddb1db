"""PortalAuth: who is asking, for every portal page and JSON route.

Resolution order:

1. a valid session cookie: its identity (a credential header sent as well is ignored); a session that was
   signed out, or whose key was revoked, expired or removed since, no longer counts;
2. otherwise an ``X-API-Key`` (or the configured key header) or ``Authorization: Bearer`` header, run
   through the inbound chain; accepted only when it yields a non-anonymous identity. A presented but
   bad credential is refused, even with anonymous access on. Query-string keys are not read;
3. otherwise, with ``portal.allow_anonymous``, the anonymous identity; the browser gets an anonymous
   session so that its forms carry a CSRF token;
4. otherwise nobody: JSON routes answer 401, pages redirect to ``/portal/login?return=<path>``.

State-changing requests made with the session cookie must carry the session's CSRF token
(:mod:`apitest.portal.csrf`); anonymous requests without a session are refused, as they could come
from any site. The guard that applies this to every page and JSON route (:func:`apitest.portal.core.page`
and :func:`~apitest.portal.core.api`) lives beside the portal it asks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from apitest.auth.base import Invalid
from apitest.auth.credentials import read_credentials
from apitest.http import error_response
from apitest.identity import Identity
from apitest.portal import csrf
from apitest.portal.oidc_login import safe_return
from apitest.portal.session import ANONYMOUS_PORTAL, PortalIdentity, ReadStatus, Session, new_csrf_token

Endpoint = Callable[[Request], Awaitable[Response]]
Chain = Callable[[Request], Awaitable["Identity | Invalid | None"]]
Via = Literal["session", "header", "anonymous", "none"]
PORTAL_REALM = 'Bearer realm="api-test-portal"'
DEFAULT_KEY_HEADER = "X-API-Key"
# POST-only form routes and how to reach the page their form is on: /portal/audit/{id}/replay is on the event
# page, /portal/endpoints/{name}/try on the endpoint page, /portal/keys/{name}/revoke on /portal/keys.
FORM_SUFFIXES = ("/replay", "/try", "/revoke")


@dataclass
class PortalContext:
    identity: PortalIdentity | None
    via: Via
    session: Session | None = None
    session_status: ReadStatus = "none"
    issue: Session | None = None  # a session to set on the response (anonymous mode)
    rejected: str = ""  # why a presented credential was refused

    @property
    def csrf_token(self) -> str:
        return self.session.csrf if self.session else ""


def presents_credential(request: Request, key_header: str) -> bool:
    presented = read_credentials(request.scope, header_name=key_header, query_name="", read_query=False)
    fallback = read_credentials(request.scope, header_name=DEFAULT_KEY_HEADER, query_name="", read_query=False)
    return presented.any or fallback.any


async def resolve(
    request: Request,
    read: tuple[ReadStatus, Session | None],
    *,
    chain: Chain,
    allow_anonymous: bool,
    key_header: str,
) -> PortalContext:
    """Who is asking, given the session cookie as read (``read``, see :meth:`Portal.read_session`)."""
    status, session = read
    if session is not None:
        return PortalContext(session.identity, "session", session, status)
    if presents_credential(request, key_header):
        result = await chain(request)
        if isinstance(result, Identity) and result.auth_type != "anonymous":
            return PortalContext(PortalIdentity.from_identity(result), "header", None, status)
        reason = result.message if isinstance(result, Invalid) else "credential not accepted"
        return PortalContext(None, "none", None, status, rejected=reason)
    if allow_anonymous:
        fresh = Session(ANONYMOUS_PORTAL, new_csrf_token())
        return PortalContext(ANONYMOUS_PORTAL, "anonymous", fresh, status, issue=fresh)
    return PortalContext(None, "none", None, status)


def context_of(request: Request) -> PortalContext:
    ctx = request.scope.get("state", {}).get("portal")
    assert isinstance(ctx, PortalContext), "portal handlers run behind page() or api()"
    return ctx


def unauthorized() -> Response:
    return error_response("unauthorized", 401, {"WWW-Authenticate": PORTAL_REALM})


def return_target(request: Request) -> str:
    """Where sign-in should bring the user back: the page itself for a GET; for a form (POST-only routes such
    as replay, Try-It, key create/revoke or sign-out) the page the form was on, never the POST-only route,
    which a GET would answer with 405. That page is the same-origin ``Referer``, or the route's parent page."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/portal/"):
        back = safe_return(referer.path + (f"?{referer.query}" if referer.query else ""))
        if back and not back.startswith("/portal/login"):
            return back
    path = request.url.path
    for suffix in FORM_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)].rsplit("/", 1)[0] if suffix == "/revoke" else path[: -len(suffix)]
    return "/portal/"


def login_redirect(request: Request, status: ReadStatus) -> Response:
    params = {"return": return_target(request)}
    if status in ("expired", "ended"):
        params["reason"] = status
    return RedirectResponse(f"{request.app.url_path_for('portal:login')}?{urlencode(params)}", status_code=303)


async def csrf_ok(request: Request, ctx: PortalContext) -> bool:
    if not csrf.is_state_changing(request) or ctx.via == "header":
        return True
    if ctx.via == "anonymous" and ctx.issue is not None:
        return False  # no session cookie yet: nothing ties this request to a page of ours
    return csrf.tokens_match(ctx.csrf_token, await csrf.presented_token(request))
