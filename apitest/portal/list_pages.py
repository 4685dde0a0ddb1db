"""The portal's list pages: the dashboard, the audit list, compare and saved views (HTML and their JSON twins).

Each page renders one data function's dict (:mod:`apitest.portal.data`) plus what only the page needs
(charts, the onboarding panel, chips and hidden fields from :mod:`apitest.portal.listing`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from apitest import safejson
from apitest.audit.filters import LAST_CHOICES, parse_filters, parse_last
from apitest.forwarded import public_origin
from apitest.portal import charts, data, info, listing
from apitest.portal.auth import context_of
from apitest.portal.core import page, portal_of
from apitest.portal.data import DataError
from apitest.portal.pages import error_page
from apitest.portal.saved_views import SavedViewError, check_name, encode_query, owner_of

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
Producer = Callable[[Request], Awaitable[dict[str, Any]]]
LIST_ROWS_MAX = 500  # the live tail keeps at most this many rows in the page


async def _render(request: Request, template: str, producer: Producer) -> Response:
    try:
        context = await producer(request)
    except DataError as exc:
        return error_page(request, exc.status, "Cannot show this page", exc.message)
    return portal_of(request).render(request, template, context)


# Dashboard ---------------------------------------------------------------------------------------------


def onboarding(request: Request) -> dict[str, Any]:
    """What a newcomer needs on an empty dashboard: the public base URL, a first request, gateway values."""
    settings = portal_of(request).services.settings
    origin = public_origin(request.scope, settings)
    base = origin.url("")
    modes = info.auth_modes(settings)
    kinds = [m["type"] for m in modes]
    key_header = next((m["header"] for m in modes if m["type"] == "apikey"), "X-API-Key")
    credential = "" if "anonymous" in kinds else f" -H '{key_header}: <your key>'"
    return {
        "base_url": base,
        "curl": f"curl -i {base}/v1/whoami{credential}",
        "auth_modes": kinds,
        "openapi": base + "/openapi.json",
        "healthz": base + "/healthz",
    }


def _window_param(request: Request) -> tuple[dict[str, str], str]:
    raw = request.query_params.get("last", "")
    if not raw:
        return {}, ""
    if raw in LAST_CHOICES:
        return {"last": raw}, ""
    try:
        parse_last(raw)
    except ValueError as exc:
        return {}, f"last={raw!r} is not a window ({exc}); showing the last hour"
    return {"last": raw}, ""


async def _dashboard(request: Request) -> dict[str, Any]:
    query, problem = _window_param(request)
    d = await data.dashboard(portal_of(request), query)
    return {
        **d,
        "windows": LAST_CHOICES,
        "window_error": problem,
        "requests_chart": charts.requests_chart(d["timeseries"]),
        "status_chart": charts.status_histogram(d["status_classes"]),
        "onboarding": onboarding(request) if d["total"] == 0 else None,
        "caller_queries": {g["key"]: charts.caller_query(g["key"]) for g in d["top_callers"]},
    }


# Audit list --------------------------------------------------------------------------------------------


async def _audit(request: Request) -> dict[str, Any]:
    query = dict(request.query_params)
    d = await data.audit_list(portal_of(request), query, strict=False)
    parsed = parse_filters(query)
    shown = [e["id"] for e in d["events"]]
    methods = METHODS if parsed.filters.method in (None, *METHODS) else (*METHODS, parsed.filters.method)
    return {
        **d,
        **listing.list_view(parsed, query, shown),
        "windows": LAST_CHOICES,
        "methods": methods,
        "query": query,
        "compare_problem": _compare_problem(query),
        "rows_max": LIST_ROWS_MAX,
        "saved": await _saved(request),
    }


def _compare_problem(query: dict[str, str]) -> str:
    if query.get("compare") != "incomplete":
        return ""
    picks = listing.selection(query)
    if not picks:
        return "Pick two requests to compare: choose A in one row and B in another."
    have = next(iter(picks))
    return f"Pick two requests to compare: {have.upper()} is chosen; choose {'B' if have == 'a' else 'A'} too."


@page
async def audit(request: Request) -> Response:
    better = listing.canonical_query(list(request.query_params.multi_items()))
    if better is not None:
        target = str(request.url.path) + (f"?{better}" if better else "")
        return RedirectResponse(target, status_code=303)
    return await _render(request, "audit.html", _audit)


# Compare -----------------------------------------------------------------------------------------------


async def _compare(request: Request) -> dict[str, Any]:
    q = request.query_params
    return await data.compare(portal_of(request), q.get("a", ""), q.get("b", ""))


@page
async def compare(request: Request) -> Response:
    """Fewer than two picks go back to the list, with the picks, its filters and a message; not a 400 page."""
    q = request.query_params
    if not (q.get("a") and q.get("b")):
        back = [(k, v) for k, v in q.multi_items() if v.strip() and k != "compare"] + [("compare", "incomplete")]
        return RedirectResponse(f"{request.app.url_path_for('portal:audit')}?{urlencode(back)}", status_code=303)
    return await _render(request, "compare.html", _compare)


# Saved views -------------------------------------------------------------------------------------------


def _owner(request: Request) -> str:
    identity = context_of(request).identity
    assert identity is not None
    return owner_of(identity)


async def _saved(request: Request) -> list[dict[str, str]]:
    views = await portal_of(request).saved_views.list(_owner(request))
    return [v.json() for v in views]


async def _saved_views(request: Request) -> dict[str, Any]:
    return {"views": await _saved(request)}


@page
async def saved_views(request: Request) -> Response:
    return await _render(request, "saved_views.html", _saved_views)


@page
async def dashboard(request: Request) -> Response:
    return await _render(request, "dashboard.html", _dashboard)


async def _create(request: Request, name: str, query: str) -> dict[str, str]:
    parsed = parse_filters(dict(_pairs(query)))
    if parsed.errors:
        raise DataError("; ".join(parsed.errors))
    try:
        view = await portal_of(request).saved_views.create(
            _owner(request), check_name(name), encode_query(parsed.params)
        )
    except SavedViewError as exc:
        raise DataError(str(exc), 409 if "already" in str(exc) else 400) from exc
    return view.json()


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query.lstrip("?"), keep_blank_values=False)[:50]


@page
async def save_view(request: Request) -> Response:
    form = await request.form()
    name, query = str(form.get("name") or ""), str(form.get("query") or "")
    try:
        await _create(request, name, query)
    except DataError as exc:
        return error_page(request, exc.status, "Cannot save this view", exc.message)
    return RedirectResponse(request.app.url_path_for("portal:saved_views"), status_code=303)


@page
async def delete_view(request: Request) -> Response:
    await portal_of(request).saved_views.delete(_owner(request), request.path_params["id"])
    return RedirectResponse(request.app.url_path_for("portal:saved_views"), status_code=303)


# JSON twins ----------------------------------------------------------------------------------------------


async def saved_views_json(request: Request) -> Any:
    return await _saved_views(request)


async def create_saved_view_json(request: Request) -> Any:
    try:
        body = safejson.loads(await request.body())
    except ValueError as exc:
        raise DataError("invalid JSON body") from exc
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("query"), str):
        raise DataError('send {"name": "...", "query": "status=5xx&last=1h"}')
    return await _create(request, body["name"], body["query"])


async def delete_saved_view_json(request: Request) -> Any:
    if not await portal_of(request).saved_views.delete(_owner(request), request.path_params["id"]):
        raise DataError("no such saved view", 404)
    return {"deleted": request.path_params["id"]}
