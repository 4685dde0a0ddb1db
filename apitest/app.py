"""The application factory: ``create_app(settings) -> Starlette``.

``create_app`` builds the whole object graph once: database, audit store and writer, key store, OIDC
validator, inbound chain, rate-limit counters, idempotency store, attempt counters, webhooks, credential
fingerprints and portal. Each object is handed (as a constructor argument) to the middleware, handlers and
components that use it; nothing is filled in later or looked up per request. Everything long-lived with
work to do at startup or shutdown is a :class:`Component`: the lifespan starts them in order and stops
them in reverse, so the audit drains before the database closes. Tests build isolated apps from their own
settings.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from apitest import logs
from apitest.attempts import AttemptCounters
from apitest.audit.buffer import AuditWriter
from apitest.audit.capture import AuditMiddleware
from apitest.audit.component import AuditComponent, sql_audit_writer
from apitest.audit.scope import AllPathsAudit
from apitest.auth.admin import AdminAuth, KeysAPI
from apitest.auth.chain import AuthChain, build_chain
from apitest.auth.evidence import FingerprintComponent, Fingerprinter
from apitest.auth.keystore import KeyStore, KeyStoreComponent, reserved_names
from apitest.auth.middleware import AuthMiddleware
from apitest.auth.oidc import OIDCComponent, OIDCValidator
from apitest.auth.wellknown import WellKnown
from apitest.config import Settings
from apitest.counters import CounterStore, MemoryCounters, SQLCounters
from apitest.db.engine import Database, DatabaseComponent
from apitest.docs import DocsSite
from apitest.endpoints import bind_routes, enabled_routes
from apitest.endpoints.deps import EndpointDeps
from apitest.idempotency import idempotency_store
from apitest.lifecycle import Lifecycle
from apitest.metrics import MetricsSite, Scraped
from apitest.middleware.edge import Edge
from apitest.middleware.prefix import PrefixMiddleware, may_have_prefix
from apitest.openapi import build_openapi
from apitest.pipeline import HandlerApp, RouteDispatch
from apitest.portal.core import Portal
from apitest.portal.routes import portal_routes
from apitest.ratelimit import RateLimitMiddleware
from apitest.registry import RouteSpec
from apitest.routing import index_static_routes
from apitest.services import Services
from apitest.system import System, http_error
from apitest.tls.peer import publish_client_certificate
from apitest.unrouted import NoRoute, NotAllowed
from apitest.version import version_route
from apitest.webhooks.api import WebhooksAPI
from apitest.webhooks.component import WebhookComponent
from apitest.webhooks.service import WebhookService
from apitest.websocket import websocket_routes

log = logs.get("app")


class FixtureApp(Starlette):
    """Starlette with :class:`~apitest.middleware.edge.Edge` in place of its middleware stack: Starlette's own
    server-error and exception middleware and the app's stages are one layer there (docs/performance.md)."""

    def __init__(self, *, edge: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        self._edge = edge
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return self._edge(self.router)


class Component(Protocol):
    """A long-lived part of the app with work to do at startup and shutdown."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_pipeline(
    settings: Settings,
    *,
    chain: AuthChain,
    counters: CounterStore,
    writer: AuditWriter | None,
    fingerprints: Fingerprinter | None = None,
) -> ASGIApp:
    """The stages every ``/v1`` request passes, built inside out: handler ← rate limit ← auth ← audit (the
    audit stage only when ``writer`` is given, i.e. ``audit.enabled``)."""
    app: ASGIApp = HandlerApp(debug_errors=settings.server.debug_errors)
    app = RateLimitMiddleware(app, settings=settings.rate_limit, counters=counters)
    app = AuthMiddleware(app, settings=settings, chain=chain, fingerprints=fingerprints)
    if writer is not None:
        app = AuditMiddleware(app, settings=settings, writer=writer, fingerprints=fingerprints)
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


def require_database(database: Database | None, feature: str) -> Database:
    if database is None:
        raise RuntimeError(f"{feature} requires database.url")
    return database


@dataclass(frozen=True)
class Graph:
    """What :func:`build_graph` constructs for one app."""

    services: Services
    components: list[Component]  # in start order; stopped in reverse
    chain: AuthChain
    counters: CounterStore  # rate-limit windows
    # The collaborators a configuration may turn off (None then), handed to their users by create_app.
    database: Database | None
    audit: AuditComponent | None  # the writer, its store and the retention job
    key_store: KeyStore | None
    oidc: OIDCValidator | None
    webhooks: WebhookService | None


def build_graph(settings: Settings, lifecycle: Lifecycle, audit_writer: AuditWriter | None = None) -> Graph:
    """Construct every long-lived collaborator of the app once, each over the ones it needs."""
    components: list[Component] = []
    # Storage first: everything below may keep its state in the database.
    database = Database.from_settings(settings) if settings.database.url else None
    if database is not None:
        components.append(DatabaseComponent(database, migrate_on_boot=settings.database.migrate_on_boot))
    fingerprints = Fingerprinter()
    components.append(FingerprintComponent(fingerprints, settings.portal.cookie_secret, database))  # key in the db
    idempotency = idempotency_store(database, settings.idempotency.ttl)
    attempts = AttemptCounters(database)
    counters: CounterStore = SQLCounters(database) if database is not None else MemoryCounters()
    if audit_writer is None and settings.audit.enabled:
        audit_writer = sql_audit_writer(settings, require_database(database, "audit.enabled"))
    audit = None
    if audit_writer is not None:
        audit = AuditComponent(settings, audit_writer, backend=database.dialect if database else "memory")
        components.append(audit)  # after the database: stops (drains) before it closes
    key_store = None
    if settings.api_keys.db.enabled:
        database = require_database(database, "api_keys.db.enabled")
        key_store = KeyStore(database, pepper=settings.api_keys.db.pepper, reserved=reserved_names(settings))
        components.append(KeyStoreComponent(key_store))
    oidc = OIDCComponent(settings.oidc) if settings.oidc.enabled else None
    if oidc is not None:
        components.append(oidc)
    webhooks = None
    if settings.webhooks.enabled:
        database = require_database(database, "webhooks.enabled")
        webhooks = WebhookComponent(settings, database, audit.store if audit else None)
        components.append(webhooks)  # after the audit: its poller reads the audit store
    validator = oidc.validator if oidc else None
    service = webhooks.service if webhooks else None
    routes = bind_routes(
        enabled_routes(settings.enabled_groups()), EndpointDeps(settings, attempts, idempotency, service)
    )
    services = Services(
        settings=settings,
        lifecycle=lifecycle,
        routes=routes,
        openapi=build_openapi(settings, routes),
        fingerprints=fingerprints,
        idempotency=idempotency,
        attempts=attempts,
    )
    chain = build_chain(settings, key_store, validator)
    return Graph(services, components, chain, counters, database, audit, key_store, validator, service)


def create_app(
    settings: Settings, *, lifecycle: Lifecycle | None = None, audit_writer: AuditWriter | None = None
) -> Starlette:
    """The app of ``settings``. ``audit_writer`` replaces the writer built on the database (and turns the
    audit on): tests pass one over an in-memory store."""
    graph = build_graph(settings, lifecycle or Lifecycle(), audit_writer)
    services, components, chain = graph.services, graph.components, graph.chain
    lifecycle, routes, fingerprints = services.lifecycle, services.routes, services.fingerprints
    database, audit, key_store, webhooks = graph.database, graph.audit, graph.key_store, graph.webhooks
    writer = audit.writer if audit else None
    metrics = MetricsSite(Scraped(settings, database=database, audit=writer, webhooks=webhooks))
    if metrics.enabled:
        components.insert(0, metrics)  # stopped last, so its final sync sees the drained audit
    portal = (
        Portal(
            services,
            chain,
            database=database,
            audit=writer,
            audit_store=audit.store if audit else None,
            audit_retention=audit.retention if audit else None,
            key_store=key_store,
            oidc_validator=graph.oidc,
            webhooks=webhooks,
        )
        if settings.portal.enabled
        else None
    )
    if portal is not None:
        components.append(portal)  # last: its OIDC sign-in reuses the validator's discovery document

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[Component] = []
        try:
            for component in components:
                await component.start()
                started.append(component)
            yield
        finally:
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    log.exception("component stop failed", extra={"component": component.name})

    admin_auth = AdminAuth(settings, chain, [portal.admin_check] if portal else [])

    def audited(inner: ASGIApp) -> ASGIApp:
        if writer is None:
            return inner
        return AuditMiddleware(inner, settings=settings, writer=writer, fingerprints=fingerprints)

    def protect(inner: ASGIApp) -> ASGIApp:
        return AuthMiddleware(inner, settings=settings, chain=chain)

    pipeline = build_pipeline(settings, chain=chain, counters=graph.counters, writer=writer, fingerprints=fingerprints)
    # /v1 first: the router tries routes in order, one regex each, and /v1 carries nearly all the traffic.
    app_routes: list[BaseRoute] = v1_routes(routes, pipeline, audited)
    app_routes += websocket_routes(routes, settings=settings, chain=chain, writer=writer)
    app_routes += [
        *System(settings, lifecycle, len(routes)).routes(),
        version_route(database),
        *metrics.routes(protect=protect),
        *DocsSite(settings, services.openapi).routes(),
        *WellKnown(settings, routes).routes(),
        *KeysAPI(settings, key_store, admin_auth).routes(),
        *(WebhooksAPI(settings, webhooks, admin_auth).routes() if webhooks else []),
        *(portal_routes(portal) if portal else []),
        *unrouted_v1_routes(audited),
    ]

    def edge(router: ASGIApp) -> ASGIApp:
        """Everything before routing, in one layer (docs/performance.md, "The edge")."""
        inner = router
        if settings.audit.scope == "all" and writer is not None:
            # Every path audited: the router's misses must be answered inside the audit, so the row sees them.
            inner = ExceptionMiddleware(inner, handlers={HTTPException: http_error})
            inner = AllPathsAudit(inner, settings=settings, writer=writer, fingerprints=fingerprints)
        if may_have_prefix(settings):
            inner = PrefixMiddleware(inner, settings=settings)  # portal URLs behind a gateway's path prefix
        return Edge(
            inner,
            allowed_hosts=settings.portal.allowed_hosts,
            allowed_origins=settings.server.cors.allowed_origins,
            max_body_bytes=settings.server.max_body_bytes,
            debug=settings.server.debug_errors,
            metrics=metrics.metrics if metrics.enabled else None,
            http_error=http_error,
            on_tls=publish_client_certificate,  # mutual TLS: the client certificate for /v1/whoami and the row
        )

    app = FixtureApp(edge=edge, routes=app_routes, lifespan=lifespan)
    app.router.redirect_slashes = False
    # For tests and operators poking at a running app; no handler reads them.
    index_static_routes(app.router)  # exact-path lookup before the linear scan (docs/performance.md)
    app.state.services = services
    app.state.portal = portal
    # The collaborators a configuration may turn off, each None then (Services holds only the others).
    app.state.database = database
    app.state.audit = writer
    app.state.audit_store = audit.store if audit else None
    app.state.audit_retention = audit.retention if audit else None
    app.state.key_store = key_store
    app.state.oidc = graph.oidc
    app.state.webhooks = webhooks
    return app
