"""The portal's HTML pages: each renders one data function's dict with its template.

A form that fails validation (a rejected key, a bad Try-It line, a duplicate key name) is shown again
with the message and status 200, as browsers expect; the JSON API answers the same mistakes with 4xx.

Sign-in pages are public; every other page is behind :func:`apitest.portal.auth.page` (redirect to
sign-in when nobody is signed in, CSRF on forms).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from apitest import safejson
from apitest.audit.filters import LAST_CHOICES
from apitest.audit.serialize import decode_body
from apitest.auth.credentials import Presented
from apitest.auth.identity import Identity
from apitest.portal import actions, charts, csrf, data, info
from apitest.portal.auth import context_of
from apitest.portal.core import page, portal_of
from apitest.portal.data import DataError
from apitest.portal.oidc_login import LoginFailure, safe_return
from apitest.portal.session import PortalIdentity
from apitest.portal.wire import wire_view
from apitest.storable import storable

LOGIN_COOKIE = "api_test_login"
LOGIN_MESSAGES = {
    "expired": "Your session has expired. Sign in again.",
    "ended": "Your session has ended (signed out elsewhere, or its key was revoked or expired). Sign in again.",
    "signed_out": "You are signed out.",
}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return portal_of(request).render(
        request, "error.html", {"title": title, "message": message, "status": status}, status
    )


def rendered(
    template: str, producer: Callable[[Request], Awaitable[dict[str, Any]]]
) -> Callable[[Request], Awaitable[Response]]:
    """A page: run the data function, render its dict, or show the data error."""

    @page
    async def endpoint(request: Request) -> Response:
        try:
            context = await producer(request)
        except DataError as exc:
            return error_page(request, exc.status, "Cannot show this page", exc.message)
        return portal_of(request).render(request, template, context)

    endpoint.__name__ = producer.__name__
    return endpoint


# Sign-in -----------------------------------------------------------------------------------------------


def _login_page(request: Request, status: int = 200, error: str = "") -> Response:
    portal = portal_of(request)
    token = secrets.token_urlsafe(24)
    return_to = safe_return(request.query_params.get("return") or "")
    reason = request.query_params.get("reason", "")
    response = portal.render(
        request,
        "login.html",
        {
            "login_token": token,
            "return_to": return_to,
            "message": LOGIN_MESSAGES.get(reason, ""),
            "error": error,
            "oidc_login": portal.oidc is not None,
            "key_header": portal.key_header,
        },
        status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        str(portal.sessions.derived("login").dumps(token)),
        max_age=3600,
        path="/portal/login",
        secure=portal.sessions.secure,
        httponly=True,
        samesite="lax",
    )
    return response


async def login(request: Request) -> Response:
    portal = portal_of(request)
    if request.method == "GET":
        status, session = await portal.read_session(request)
        if session is not None and session.identity.auth_type != "anonymous":
            return RedirectResponse(safe_return(request.query_params.get("return")) or "/portal/", status_code=303)
        return _login_page(request)
    form = await request.form()
    key = str(form.get("api_key") or "").strip()
    return_to = safe_return(str(form.get("return") or ""))
    try:
        expected = portal.sessions.derived("login").loads(request.cookies.get(LOGIN_COOKIE, ""), max_age=3600)
    except Exception:
        expected = ""
    if not csrf.tokens_match(str(expected), str(form.get(csrf.FIELD) or "")):
        return _login_page(request, 403, "The sign-in form expired. Try again.")
    if not key:
        return _login_page(request, 200, "Enter an API key.")
    result = await portal.check(Presented(api_key=key, api_key_source="header"))
    if not isinstance(result, Identity):
        return _login_page(request, 200, f"API key was not accepted ({result.description}).")
    response = RedirectResponse(return_to or "/portal/", status_code=303)
    portal.sessions.issue(response, portal.new_session(PortalIdentity.from_identity(result)))
    response.delete_cookie(LOGIN_COOKIE, path="/portal/login")
    return response


@page
async def logout(request: Request) -> Response:
    portal = portal_of(request)
    session = context_of(request).session
    if session is not None:
        await portal.end_session(session)
    response = RedirectResponse(f"{request.app.url_path_for('portal:login')}?reason=signed_out", status_code=303)
    portal.sessions.clear(response)
    return response


async def oidc_start(request: Request) -> Response:
    portal = portal_of(request)
    assert portal.oidc is not None
    try:
        return await portal.oidc.login(request)
    except LoginFailure as exc:
        return error_page(request, exc.status, exc.title, exc.detail)


async def oidc_callback(request: Request) -> Response:
    portal = portal_of(request)
    assert portal.oidc is not None
    try:
        return await portal.oidc.callback(request)
    except LoginFailure as exc:
        return error_page(request, exc.status, exc.title, exc.detail)


# Audit pages -------------------------------------------------------------------------------------------


async def _dashboard(request: Request) -> dict[str, Any]:
    query = {k: v for k, v in request.query_params.items() if k == "last" and v in LAST_CHOICES}
    d = await data.dashboard(portal_of(request).services, query)
    return {
        **d,
        "windows": LAST_CHOICES,
        "requests_chart": charts.requests_chart(d["timeseries"]),
        "status_chart": charts.status_histogram(d["status_classes"]),
    }


async def _audit(request: Request) -> dict[str, Any]:
    d = await data.audit_list(portal_of(request).services, dict(request.query_params), strict=False)
    return {**d, "windows": LAST_CHOICES, "methods": METHODS, "query": dict(request.query_params)}


def body_view(payload: dict[str, Any], side: str) -> dict[str, Any]:
    """How the detail page shows one body: pretty JSON when it parses, raw text, or base64 for binary."""
    raw = payload.get(f"{side}_body")
    view: dict[str, Any] = {
        "content_type": payload.get(f"{side}_content_type", ""),
        "size": payload.get(f"{side}_size_bytes", 0),
        "truncated": bool(payload.get(f"{side}_truncated")),
        "pretty": None,
        "raw": raw or "",
    }
    view["captured"] = len(decode_body(payload, side))
    if not raw:
        view["kind"] = "empty"
    elif payload.get(f"{side}_body_encoding") == "base64":
        view["kind"] = "binary"
    else:
        view["kind"] = "text"
        try:
            view["pretty"] = storable(json.dumps(safejson.loads(raw), indent=2, ensure_ascii=False))
        except ValueError:
            pass
    return view


async def _event(request: Request) -> dict[str, Any]:
    event = await data.event_detail(portal_of(request).services, request.path_params["id"])
    payload = event.get("payload") or {}
    pairs = [(k, v) for k, vs in (payload.get("request_query") or {}).items() for v in vs]
    replayed = request.query_params.get("replayed_from", "")
    return {
        "event": event,
        "views": {"request": body_view(payload, "request"), "response": body_view(payload, "response")},
        "request_target": event["path"] + ("?" + urlencode(pairs) if pairs else ""),
        "replayed_from_param": replayed if replayed and replayed == payload.get("replayed_from") else "",
        "wire": wire_view(event),
    }


async def _compare(request: Request) -> dict[str, Any]:
    q = request.query_params
    return await data.compare(portal_of(request).services, q.get("a", ""), q.get("b", ""))


@page
async def replay(request: Request) -> Response:
    identity = context_of(request).identity
    assert identity is not None
    try:
        result = await actions.replay(portal_of(request).services, request, request.path_params["id"], identity)
    except DataError as exc:
        return error_page(request, exc.status, "Replay refused", exc.message)
    if result["event_id"]:
        target = request.app.url_path_for("portal:event", id=result["event_id"])
        return RedirectResponse(f"{target}?{urlencode({'replayed_from': result['replayed_from']})}", status_code=303)
    return portal_of(request).render(request, "replayed.html", {"result": result})


# Other pages -------------------------------------------------------------------------------------------


async def _endpoints(request: Request) -> dict[str, Any]:
    return info.endpoints(portal_of(request).services)


async def _endpoint(request: Request) -> dict[str, Any]:
    return {
        "endpoint": info.endpoint(portal_of(request).services, request.path_params["name"]),
        "result": None,
        "form": {},
    }


@page
async def try_it(request: Request) -> Response:
    services = portal_of(request).services
    identity = context_of(request).identity
    assert identity is not None
    name = request.path_params["name"]
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        spec = info.find_endpoint(services, name)
        given = actions.TryItInput(
            method=values.get("method", ""),
            path_params={p: values.get(f"path.{p}", "") for p in spec.path_params},
            query=actions.parse_lines(values.get("query", ""), "="),
            headers=actions.parse_lines(values.get("headers", ""), ":"),
            body=values.get("body", "").encode(),
        )
        result: dict[str, Any] | None = await actions.try_it(services, request, spec, given, identity)
        error = ""
    except DataError as exc:
        if exc.status == 404:
            return error_page(request, 404, "No such endpoint", exc.message)
        result, error = None, exc.message
    context = {"endpoint": info.endpoint(services, name), "result": result, "form": values, "error": error}
    return portal_of(request).render(request, "endpoint.html", context)


async def _config(request: Request) -> dict[str, Any]:
    return info.config(portal_of(request).services.settings)


async def _discovery(request: Request) -> dict[str, Any]:
    return await info.discovery(request)


async def _about(request: Request) -> dict[str, Any]:
    return await info.about(portal_of(request).services)


dashboard = rendered("dashboard.html", _dashboard)
audit = rendered("audit.html", _audit)
event = rendered("event.html", _event)
compare = rendered("compare.html", _compare)
endpoints = rendered("endpoints.html", _endpoints)
endpoint = rendered("endpoint.html", _endpoint)
config = rendered("config.html", _config)
discovery = rendered("discovery.html", _discovery)
about = rendered("about.html", _about)
