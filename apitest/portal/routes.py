"""The portal's route table: pages under ``/portal/``, static assets, sign-in, and the JSON API under
``/api/v1/portal/``. Mounted by :func:`apitest.app.create_app` only when ``portal.enabled``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from apitest.http import error_response
from apitest.portal import api, keys, list_pages, pages
from apitest.portal.api import json_route as j
from apitest.portal.core import Portal, bind_portal, portal_of
from apitest.portal.render import SECURITY_HEADERS, STATIC_DIR
from apitest.portal.webhooks import WebhookPages

API = "/api/v1/portal"
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class View:
    """One portal view: its HTML page and its JSON twin, which render the same data function's dict
    (:mod:`apitest.portal.data` / :mod:`apitest.portal.info`). Either side may be absent."""

    name: str  # route names are "portal:<name>" and "portal-api:<name>"
    page_path: str | None
    page: Endpoint | None
    api_path: str | None
    api: Endpoint | None

    def routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = []
        if self.page_path and self.page:
            out.append(Route(self.page_path, self.page, methods=["GET"], name=f"portal:{self.name}"))
        if self.api_path and self.api:
            out.append(Route(f"{API}{self.api_path}", self.api, methods=["GET"], name=f"portal-api:{self.name}"))
        return out


# The read-only views, in the order their routes are matched (``/audit/compare`` before ``/audit/{id}``).
VIEWS: tuple[View, ...] = (
    View("dashboard", "/portal/", list_pages.dashboard, "/dashboard", j(api.dashboard)),
    View("audit", "/portal/audit", list_pages.audit, None, None),
    View("events", None, None, "/audit/events", j(api.events)),
    View("saved_views", "/portal/audit/views", list_pages.saved_views, "/audit/views", j(list_pages.saved_views_json)),
    View("compare", "/portal/audit/compare", list_pages.compare, "/audit/compare", j(api.compare)),
    View("event", "/portal/audit/{id}", pages.event, "/audit/events/{id}", j(api.event)),
    View("endpoints", "/portal/endpoints", pages.endpoints, "/endpoints", j(api.endpoints)),
    View("endpoint", "/portal/endpoints/{name}", pages.endpoint, "/endpoints/{name}", j(api.endpoint)),
    View("config", "/portal/config", pages.config, "/config", j(api.config)),
    View("discovery", "/portal/discovery", pages.discovery, "/discovery", j(api.discovery)),
    View("about", "/portal/about", pages.about, "/about", j(api.about)),
    View("me", None, None, "/me", j(api.me)),
    View("server", None, None, "/server", j(api.server)),
    View("wellknown", None, None, "/wellknown", j(api.wellknown)),
    View("audit_meta", None, None, "/audit/meta", j(api.audit_meta)),
    View("timeseries", None, None, "/audit/timeseries", j(api.timeseries)),
    View("breakdown", None, None, "/audit/breakdown", j(api.breakdown)),
    View("stats", None, None, "/audit/stats", j(api.stats)),
)


async def to_slash(request: Request) -> Response:
    return RedirectResponse(request.app.url_path_for("portal:dashboard"), status_code=308)


async def not_found(request: Request) -> Response:
    """An HTML 404 for people; a portal path that exists for other methods keeps its JSON 405."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.name != "portal:not_found":
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL and route.methods:
                allowed |= route.methods
    if allowed:
        return error_response("method not allowed", 405, {"Allow": ", ".join(sorted(allowed))})
    response = portal_of(request).render(
        request,
        "error.html",
        {"title": "Not found", "message": f"There is no portal page at {request.url.path}.", "status": 404},
        404,
    )
    return response


class PortalStatic(StaticFiles):
    """Own CSS, script and icons; ``nosniff`` so nothing is ever run as another type."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = SECURITY_HEADERS["X-Content-Type-Options"]
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def portal_routes(portal: Portal) -> list[BaseRoute]:
    """The portal's routes, each bound to ``portal`` (:func:`apitest.portal.core.bind_portal`)."""
    return [bound(portal, route) for route in route_table(portal)]


def bound(portal: Portal, route: BaseRoute) -> BaseRoute:
    if not isinstance(route, Route):
        return route  # the static files need no portal
    return Route(route.path, bind_portal(portal, route.endpoint), methods=route.methods, name=route.name)


def route_table(portal: Portal) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        # Public: assets and sign-in.
        Mount("/portal/static", app=PortalStatic(directory=STATIC_DIR), name="portal:static"),
        Route("/portal", to_slash, methods=["GET"], name="portal:root"),
        Route("/portal/login", pages.login, methods=["GET", "POST"], name="portal:login"),
    ]
    if portal.oidc is not None:
        routes += [
            Route("/portal/auth/login", pages.oidc_start, methods=["GET"], name="portal:oidc_login"),
            Route("/portal/auth/callback", pages.oidc_callback, methods=["GET"], name="portal:oidc_callback"),
        ]
    routes += [
        # Pages (PortalAuth; forms need the CSRF token).
        Route("/portal/logout", pages.logout, methods=["POST"], name="portal:logout"),
        *(route for view in VIEWS for route in view.routes()),
        Route("/portal/audit/{id}/replay", pages.replay, methods=["POST"], name="portal:replay"),
        Route("/portal/audit/{id}/body/{side}", pages.event_body, methods=["GET"], name="portal:event_body"),
        Route("/portal/resend", pages.resend_page, methods=["GET"], name="portal:resend_page"),
        Route("/portal/resend", pages.resend, methods=["POST"], name="portal:resend"),
        Route("/portal/endpoints/{name}/try", pages.try_it, methods=["POST"], name="portal:try"),
        Route("/portal/keys", keys.keys, methods=["GET", "POST"], name="portal:keys"),
        Route("/portal/keys/{name}/revoke", keys.revoke, methods=["POST"], name="portal:revoke"),
        *(WebhookPages(portal).routes() if portal.settings.webhooks.enabled else []),
        # Saved views (forms and JSON; CSRF on both).
        Route("/portal/audit/views/save", list_pages.save_view, methods=["POST"], name="portal:save_view"),
        Route("/portal/audit/views/{id}/delete", list_pages.delete_view, methods=["POST"], name="portal:delete_view"),
        Route(
            f"{API}/audit/views", j(list_pages.create_saved_view_json), methods=["POST"], name="portal-api:create_view"
        ),
        Route(
            f"{API}/audit/views/{{id}}",
            j(list_pages.delete_saved_view_json),
            methods=["DELETE"],
            name="portal-api:delete_view",
        ),
        Route(f"{API}/audit/stream", api.audit_stream, methods=["GET"], name="portal-api:stream"),
        Route(f"{API}/audit/export.ndjson", api.export_ndjson, methods=["GET"], name="portal-api:export_ndjson"),
        Route(f"{API}/audit/export.csv", api.export_csv, methods=["GET"], name="portal-api:export_csv"),
        Route(f"{API}/audit/export.har", api.export_har, methods=["GET"], name="portal-api:export_har"),
        Route(f"{API}/audit/replay/{{id}}", j(api.replay), methods=["POST"], name="portal-api:replay"),
        Route(f"{API}/tryit/{{group}}/{{route}}", j(api.tryit), methods=["POST"], name="portal-api:tryit"),
        # Anything else under /portal/ is an HTML 404 for people (the JSON 404 stays for everything else).
        Route("/portal/{rest:path}", not_found, methods=["GET"], name="portal:not_found"),
    ]
    return routes
