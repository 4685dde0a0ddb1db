"""The application factory: ``create_app(settings) -> Starlette``.

Everything long-lived (database, audit writer, key store, OIDC validator, metrics) is a
:class:`Component`, started in order by the lifespan and stopped in reverse, so the audit drains
before the database closes. Tests build isolated apps from their own settings.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from apitest import logs
from apitest.attempts import AttemptsComponent
from apitest.audit.capture import AuditMiddleware
from apitest.audit.component import AuditComponent
from apitest.audit.evidence import FingerprintComponent, Fingerprinter
from apitest.audit.scope import AllPathsAudit
from apitest.auth.admin import AdminAuth, KeysAPI
from apitest.auth.keystore import KeyStoreComponent, reserved_names
from apitest.auth.middleware import AuthMiddleware
from apitest.auth.oidc import OIDCComponent
from apitest.auth.wellknown import wellknown_routes
from apitest.config import Settings
from apitest.db.engine import DatabaseComponent
from apitest.docs import DocsSite
from apitest.endpoints import enabled_routes
from apitest.idempotency import IdempotencyComponent
from apitest.lifecycle import Lifecycle
from apitest.metrics import MetricsSite
from apitest.middleware.access_log import AccessLogMiddleware
from apitest.middleware.body_limit import BodyLimitMiddleware
from apitest.middleware.connection import ConnectionMiddleware
from apitest.middleware.cors import CORSMiddleware
from apitest.middleware.errors import ErrorMiddleware
from apitest.middleware.isolation import IsolationMiddleware
from apitest.middleware.metrics import MetricsMiddleware
from apitest.middleware.prefix import PrefixMiddleware, may_have_prefix
from apitest.middleware.request_id import RequestIdMiddleware
from apitest.openapi import build_openapi
from apitest.pipeline import HandlerApp, RouteDispatch
from apitest.portal.core import Portal
from apitest.portal.routes import portal_routes
from apitest.ratelimit import RateLimitMiddleware
from apitest.registry import RouteSpec
from apitest.services import Services
from apitest.system import healthz, http_error, readyz, root
from apitest.tls.peer import ClientCertMiddleware
from apitest.unrouted import NoRoute, NotAllowed
from apitest.version import version
from apitest.webhooks.api import WebhooksAPI
from apitest.webhooks.component import WebhookComponent
from apitest.websocket import websocket_routes

log = logs.get("app")


class Component(Protocol):
    """A long-lived part of the app with an async start and stop."""

    name: str

    async def start(self, services: Services) -> None: ...

    async def stop(self, services: Services) -> None: ...


def build_pipeline(services: Services, fingerprints: Fingerprinter | None = None) -> ASGIApp:
    """The stages every ``/v1`` request passes, built inside out: handler ← rate limit ← auth ← audit."""
    settings = services.settings
    app: ASGIApp = HandlerApp(debug_errors=settings.server.debug_errors)
    app = RateLimitMiddleware(app, services=services)
    app = AuthMiddleware(app, services=services, fingerprints=fingerprints)
    app = AuditMiddleware(app, services=services, fingerprints=fingerprints)
    return app


def unaudited(app: ASGIApp) -> ASGIApp:
    return app


def v1_routes(
    specs: list[RouteSpec], pipeline: ASGIApp, audited: Callable[[ASGIApp], ASGIApp] = unaudited
) -> list[BaseRoute]:
    """One Starlette route per path, dispatching by method, in registration order; every method reaches it, so
    a wrong method is an audited 405. ``audited`` wraps an app in the audit stage."""
    by_path: dict[str, dict[str, RouteSpec]] = defaultdict(dict)
    for spec in specs:
        if spec.method in by_path[spec.path]:
            raise ValueError(f"duplicate operation {spec.method} {spec.path}")
        by_path[spec.path][spec.method] = spec
    return [
        Route(path, RouteDispatch(methods, pipeline, audited(NotAllowed(methods))), methods=None)
        for path, methods in by_path.items()
    ]


def unrouted_v1_routes(audited: Callable[[ASGIApp], ASGIApp]) -> list[BaseRoute]:
    """Last in the table: any other path under ``/v1`` is an audited 404."""
    no_route = audited(NoRoute())
    return [Route("/v1", no_route, methods=None), Route("/v1/{rest:path}", no_route, methods=None)]


def components_for(settings: Settings) -> list[Component]:
    """The components this configuration needs, in start order (stopped in reverse)."""
    components: list[Component] = []
    if settings.database.url:
        components.append(DatabaseComponent(settings))
    components.append(IdempotencyComponent())  # after the database: keys live there when it exists
    components.append(AttemptsComponent())  # likewise: /v1/attempts counters
    if settings.audit.enabled:
        components.append(AuditComponent(settings))  # after the database: stops (drains) before it closes
    if settings.api_keys.db.enabled:
        components.append(KeyStoreComponent(settings.api_keys.db.pepper, reserved_names(settings)))
    if settings.oidc.enabled:
        components.append(OIDCComponent(settings.oidc))
    if settings.webhooks.enabled:
        components.append(WebhookComponent(settings))  # after the audit: its poller reads the audit store
    return components


def create_app(settings: Settings, *, lifecycle: Lifecycle | None = None) -> Starlette:
    services = Services(settings=settings, lifecycle=lifecycle or Lifecycle())
    services.routes = enabled_routes(settings.enabled_groups())
    services.openapi = document = build_openapi(settings, services.routes)
    components = components_for(settings)
    fingerprints = Fingerprinter()
    keyring = FingerprintComponent(fingerprints, settings.portal.cookie_secret)
    components.insert(1 if settings.database.url else 0, keyring)  # after the database: the key lives there
    metrics = MetricsSite(services)
    if metrics.enabled:
        components.insert(0, metrics)  # stopped last, so its final sync sees the drained audit
    portal = Portal(services) if settings.portal.enabled else None
    if portal is not None:
        components.append(portal)  # last: its OIDC sign-in reuses the validator's discovery document

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[Component] = []
        try:
            for component in components:
                await component.start(services)
                started.append(component)
            yield
        finally:
            for component in reversed(started):
                try:
                    await component.stop(services)
                except Exception:
                    log.exception("component stop failed", extra={"component": component.name})

    admin_auth = AdminAuth(services, [portal.admin_check] if portal else [])

    # /v1 first: the router tries routes in order, one regex each, and /v1 carries nearly all the traffic.
    def audited(inner: ASGIApp) -> ASGIApp:
        return AuditMiddleware(inner, services=services, fingerprints=fingerprints)

    routes: list[BaseRoute] = v1_routes(services.routes, build_pipeline(services, fingerprints), audited)
    routes += websocket_routes(services.routes, services)
    routes += [
        Route("/", root, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        *metrics.routes(protect=lambda inner: AuthMiddleware(inner, services=services)),
        *DocsSite(settings, document).routes(),
        *wellknown_routes(settings),
        *KeysAPI(services, admin_auth).routes(),
        *(WebhooksAPI(services, admin_auth).routes() if settings.webhooks.enabled else []),
        *(portal_routes(portal) if portal else []),
        *unrouted_v1_routes(audited),
    ]

    middleware = [
        Middleware(ConnectionMiddleware),  # first: it needs the server's own receive
        Middleware(RequestIdMiddleware),
        *([Middleware(PrefixMiddleware, settings=settings)] if may_have_prefix(settings) else []),  # portal URLs
        Middleware(ClientCertMiddleware),  # mutual TLS: the client certificate for /v1/whoami and the audit row
        Middleware(AccessLogMiddleware),
        *([Middleware(MetricsMiddleware, metrics=metrics.metrics)] if metrics.enabled else []),
        # Outside CORS, errors and the body limit: their answers for /v1 are sandboxed too.
        Middleware(IsolationMiddleware, allowed_hosts=settings.portal.allowed_hosts),
        Middleware(CORSMiddleware, allowed_origins=settings.server.cors.allowed_origins),
        Middleware(ErrorMiddleware, debug=settings.server.debug_errors),
        Middleware(BodyLimitMiddleware, max_bytes=settings.server.max_body_bytes),  # inside errors: 413 not 500
        *(
            [Middleware(AllPathsAudit, services=services, fingerprints=fingerprints)]
            if settings.audit.scope == "all"
            else []
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.services = services
    return app
