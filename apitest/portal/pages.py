"""The portal's HTML pages: each renders one data function's dict with its template.

A form that fails validation (a rejected key, a bad Try-It line, a duplicate key name) is shown again
with the message and status 200, as browsers expect; the JSON API answers the same mistakes with 4xx.

Sign-in pages are public; every other page is behind :func:`apitest.portal.auth.page` (redirect to
sign-in when nobody is signed in, CSRF on forms).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from apitest.audit.serialize import decode_body
from apitest.auth.credentials import Presented
from apitest.identity import Identity
from apitest.portal import actions, csrf, data, info, inspect, listing, tryit
from apitest.portal.auth import context_of
from apitest.portal.core import page, portal_of
from apitest.portal.data import DataError
from apitest.portal.diff import diff_maps
from apitest.portal.oidc_login import LoginFailure, safe_return
from apitest.portal.render import SECURITY_HEADERS
from apitest.portal.session import PortalIdentity
from apitest.portal.wire import wire_view

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


def _login_page(request: Request, status: int = 200, error: str = "", return_to: str | None = None) -> Response:
    """The sign-in page; a refused POST passes the form's ``return`` on, so a mistyped key keeps the deep link."""
    portal = portal_of(request)
    token = secrets.token_urlsafe(24)
    if return_to is None:
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
        return _login_page(request, 403, "The sign-in form expired. Try again.", return_to)
    if not key:
        return _login_page(request, 200, "Enter an API key.", return_to)
    result = await portal.check(Presented(api_key=key, api_key_source="header"))
    if not isinstance(result, Identity):
        return _login_page(request, 200, f"API key was not accepted ({result.description}).", return_to)
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


# Event pages (dashboard, audit list, compare: list_pages.py) ------------------------------------------------


async def _event(request: Request) -> dict[str, Any]:
    event = await data.event_detail(portal_of(request), request.path_params["id"])
    payload = event.get("payload") or {}
    pairs = [(k, v) for k, vs in (payload.get("request_query") or {}).items() for v in vs]
    replayed = request.query_params.get("replayed_from", "")
    views = {side: inspect.body_view(payload, side, decode_body(payload, side)) for side in ("request", "response")}
    return {
        "event": event,
        "views": views,
        "request_target": event["path"] + ("?" + urlencode(pairs) if pairs else ""),
        "replayed_from_param": replayed if replayed and replayed == payload.get("replayed_from") else "",
        "wire": wire_view(event),
        "caller_label": listing.caller_label(event),
        "header_changes": await _header_changes(request, event),
    }


async def _header_changes(request: Request, event: dict[str, Any]) -> dict[str, str]:
    """Request header names (lower case) that are ``added`` or ``changed`` since the previous request on the
    same route: the headers diff at a glance (the Compare page has the full diff)."""
    previous = (event.get("neighbours") or {}).get("previous_on_route")
    store = portal_of(request).audit_store
    if not previous or store is None:
        return {}
    record = await store.get(previous["id"])
    if record is None or record.payload is None:
        return {}
    mine = (event.get("payload") or {}).get("request_headers")
    rows = diff_maps(record.payload.request_headers, mine)
    return {r.path.lower(): r.kind for r in rows if r.kind in ("added", "changed")}


@page
async def event_body(request: Request) -> Response:
    """One captured body: ``?format=json`` for the page's on-demand loading (``{body, body_encoding?}``),
    otherwise a download (``application/octet-stream``, attachment: a captured HTML body never renders on the
    portal's origin)."""
    side = request.path_params["side"]
    if side not in ("request", "response"):
        return error_page(request, 404, "No such body", "The body is request or response.")
    try:
        event = await data.event_detail(portal_of(request), request.path_params["id"])
    except DataError as exc:
        return error_page(request, exc.status, "Cannot show this body", exc.message)
    payload = event.get("payload") or {}
    if request.query_params.get("format") == "json":
        body = {"body": payload.get(f"{side}_body") or ""}
        if payload.get(f"{side}_body_encoding"):
            body["body_encoding"] = payload[f"{side}_body_encoding"]
        return JSONResponse(body, headers=SECURITY_HEADERS)
    name = f"{event['id']}-{side}-body.bin"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(decode_body(payload, side), media_type="application/octet-stream", headers=headers)


@page
async def replay(request: Request) -> Response:
    identity = context_of(request).identity
    assert identity is not None
    try:
        result = await actions.replay(portal_of(request), request, request.path_params["id"], identity)
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
    """The endpoint page; ``?from=<event>`` prefills Try-It from a captured event, ``?result=<event>`` shows
    the answer of a send (read back from its audit event: reloading it sends nothing)."""
    portal = portal_of(request)
    services = portal.services
    spec = info.find_endpoint(services, request.path_params["name"])
    example = tryit.example_body(spec)
    form: dict[str, str] = {"body": example, "headers": "Content-Type: application/json" if example else ""}
    result = None
    source = request.query_params.get("result") or request.query_params.get("from")
    if source:
        event = await data.event_detail(portal, source)
        form = tryit.prefill(event)
        form.update({f"path.{k}": v for k, v in tryit.path_values(spec, str(event["path"])).items()})
        if request.query_params.get("result"):
            result = tryit.result_from_event(event)
    return {"endpoint": info.endpoint(services, spec.name), "result": result, "form": form, "error": ""}


def _sent(request: Request, page_name: str, result: dict[str, Any], **params: str) -> Response | None:
    """POST-redirect-GET: after a send, the browser GETs the page showing the result from its audit event."""
    event_id = result.get("event_id")
    if not event_id:
        return None
    target = request.app.url_path_for(page_name, **params)
    return RedirectResponse(f"{target}?{urlencode({'result': event_id})}", status_code=303)


@page
async def try_it(request: Request) -> Response:
    portal = portal_of(request)
    services = portal.services
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
            query=tryit.query_lines(values.get("query", "")),
            headers=actions.parse_lines(values.get("headers", ""), ":"),
            body=values.get("body", "").encode(),
        )
        result: dict[str, Any] | None = await actions.try_it(portal, request, spec, given, identity)
        error = ""
    except DataError as exc:
        if exc.status == 404:
            return error_page(request, 404, "No such endpoint", exc.message)
        result, error = None, exc.message
    if result is not None:
        moved = _sent(request, "portal:endpoint", result, name=name)
        if moved is not None:
            return moved
        result = tryit.result_from_dispatch(result)
    context = {"endpoint": info.endpoint(services, name), "result": result, "form": values, "error": error}
    return portal_of(request).render(request, "endpoint.html", context)


async def _resend(request: Request) -> dict[str, Any]:
    """Edit and resend: any captured /v1 request in an editable form (method, path, query, headers, body)."""
    portal = portal_of(request)
    source = request.query_params.get("result") or request.query_params.get("from")
    if not source:
        return {"form": {"method": "GET", "path": "/v1/", "query": "", "headers": "", "body": ""}, "result": None}
    event = await data.event_detail(portal, source)
    result = tryit.result_from_event(event) if request.query_params.get("result") else None
    return {"form": tryit.prefill(event), "result": result, "source": event}


@page
async def resend(request: Request) -> Response:
    portal = portal_of(request)
    identity = context_of(request).identity
    assert identity is not None
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        given = tryit.resend_input(values)
        result: dict[str, Any] | None = await actions.send(portal, request, given, identity)
        error = ""
    except DataError as exc:
        result, error = None, exc.message
    if result is not None:
        moved = _sent(request, "portal:resend", result)
        if moved is not None:
            return moved
        result = tryit.result_from_dispatch(result)
    return portal_of(request).render(request, "resend.html", {"form": values, "result": result, "error": error})


async def _config(request: Request) -> dict[str, Any]:
    return info.config(portal_of(request).services.settings)


async def _discovery(request: Request) -> dict[str, Any]:
    return await info.discovery(request)


async def _about(request: Request) -> dict[str, Any]:
    return await info.about(portal_of(request))


resend_page = rendered("resend.html", _resend)
event = rendered("event.html", _event)
endpoints = rendered("endpoints.html", _endpoints)
endpoint = rendered("endpoint.html", _endpoint)
config = rendered("config.html", _config)
discovery = rendered("discovery.html", _discovery)
about = rendered("about.html", _about)
