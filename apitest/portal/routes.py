"""The portal's route table: pages under ``/portal/``, static assets, sign-in, and the JSON API under
``/api/v1/portal/``. Mounted by :func:`apitest.app.create_app` only when ``portal.enabled``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from apitest.http import error_response
from apitest.portal import api, keys, pages
from apitest.portal.api import json_route as j
from apitest.portal.core import Portal, bind_portal, portal_of
from apitest.portal.render import SECURITY_HEADERS, STATIC_DIR
from apitest.portal.webhooks import WebhookPages

API = "/api/v1/portal"


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
        Route("/portal/", pages.dashboard, methods=["GET"], name="portal:dashboard"),
        Route("/portal/audit", pages.audit, methods=["GET"], name="portal:audit"),
        Route("/portal/audit/compare", pages.compare, methods=["GET"], name="portal:compare"),
        Route("/portal/audit/{id}", pages.event, methods=["GET"], name="portal:event"),
        Route("/portal/audit/{id}/replay", pages.replay, methods=["POST"], name="portal:replay"),
        Route("/portal/endpoints", pages.endpoints, methods=["GET"], name="portal:endpoints"),
        Route("/portal/endpoints/{name}", pages.endpoint, methods=["GET"], name="portal:endpoint"),
        Route("/portal/endpoints/{name}/try", pages.try_it, methods=["POST"], name="portal:try"),
        Route("/portal/keys", keys.keys, methods=["GET", "POST"], name="portal:keys"),
        Route("/portal/keys/{name}/revoke", keys.revoke, methods=["POST"], name="portal:revoke"),
        *(WebhookPages(portal, portal.services).routes() if portal.settings.webhooks.enabled else []),
        Route("/portal/config", pages.config, methods=["GET"], name="portal:config"),
        Route("/portal/discovery", pages.discovery, methods=["GET"], name="portal:discovery"),
        Route("/portal/about", pages.about, methods=["GET"], name="portal:about"),
        # JSON API (PortalAuth: session cookie, X-API-Key or bearer; X-CSRF-Token with a cookie).
        Route(f"{API}/me", j(api.me), methods=["GET"], name="portal-api:me"),
        Route(f"{API}/server", j(api.server), methods=["GET"], name="portal-api:server"),
        Route(f"{API}/wellknown", j(api.wellknown), methods=["GET"], name="portal-api:wellknown"),
        Route(f"{API}/discovery", j(api.discovery), methods=["GET"], name="portal-api:discovery"),
        Route(f"{API}/config", j(api.config), methods=["GET"], name="portal-api:config"),
        Route(f"{API}/about", j(api.about), methods=["GET"], name="portal-api:about"),
        Route(f"{API}/dashboard", j(api.dashboard), methods=["GET"], name="portal-api:dashboard"),
        Route(f"{API}/endpoints", j(api.endpoints), methods=["GET"], name="portal-api:endpoints"),
        Route(f"{API}/endpoints/{{name}}", j(api.endpoint), methods=["GET"], name="portal-api:endpoint"),
        Route(f"{API}/audit/meta", j(api.audit_meta), methods=["GET"], name="portal-api:audit_meta"),
        Route(f"{API}/audit/events", j(api.events), methods=["GET"], name="portal-api:events"),
        Route(f"{API}/audit/events/{{id}}", j(api.event), methods=["GET"], name="portal-api:event"),
        Route(f"{API}/audit/compare", j(api.compare), methods=["GET"], name="portal-api:compare"),
        Route(f"{API}/audit/timeseries", j(api.timeseries), methods=["GET"], name="portal-api:timeseries"),
        Route(f"{API}/audit/breakdown", j(api.breakdown), methods=["GET"], name="portal-api:breakdown"),
        Route(f"{API}/audit/stats", j(api.stats), methods=["GET"], name="portal-api:stats"),
        Route(f"{API}/audit/stream", api.audit_stream, methods=["GET"], name="portal-api:stream"),
        Route(f"{API}/audit/export.ndjson", api.export_ndjson, methods=["GET"], name="portal-api:export_ndjson"),
        Route(f"{API}/audit/export.csv", api.export_csv, methods=["GET"], name="portal-api:export_csv"),
        Route(f"{API}/audit/replay/{{id}}", j(api.replay), methods=["POST"], name="portal-api:replay"),
        Route(f"{API}/tryit/{{group}}/{{route}}", j(api.tryit), methods=["POST"], name="portal-api:tryit"),
        # Anything else under /portal/ is an HTML 404 for people (the JSON 404 stays for everything else).
        Route("/portal/{rest:path}", not_found, methods=["GET"], name="portal:not_found"),
    ]
    return routes
