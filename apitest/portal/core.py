"""The portal component: sessions, the renderer, sign-in and PortalAuth for one app instance.

Built by :func:`apitest.app.create_app` when ``portal.enabled`` from the app's collaborators
(:class:`apitest.services.Services`), the inbound chain and, as keyword arguments, each collaborator
a configuration may turn off (``None`` then): the database, the audit writer, store and retention job,
the key store, the OIDC validator and the webhook service; started with the other components (after
the OIDC validator, whose discovery document the sign-in reuses). :func:`portal_routes
<apitest.portal.routes.portal_routes>` binds every portal route to it (:func:`bind_portal`), and the
guard here (:func:`page`, :func:`api`) applies PortalAuth (:mod:`apitest.portal.auth`) to each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from apitest import logs
from apitest.audit.buffer import AuditWriter
from apitest.audit.records import AuditStore
from apitest.audit.retention import RetentionJob
from apitest.auth.base import AuthBackendError, Invalid, describe
from apitest.auth.chain import AuthChain
from apitest.auth.credentials import Presented, read_credentials
from apitest.auth.keystore import KeyStore
from apitest.auth.oidc import OIDCValidator
from apitest.config import Settings, rules
from apitest.db.engine import Database
from apitest.db.models import utcnow
from apitest.http import error_response
from apitest.identity import Identity
from apitest.portal import auth
from apitest.portal.oidc_login import OIDCLogin
from apitest.portal.render import Renderer
from apitest.portal.revocations import MemoryRevokedSessions, RevokedSessions, SQLRevokedSessions
from apitest.portal.saved_views import MemorySavedViews, SavedViews, SQLSavedViews
from apitest.portal.session import ReadStatus, Session, SessionCodec, new_csrf_token
from apitest.services import Services
from apitest.webhooks.service import WebhookService

log = logs.get("portal")

NAV = (
    ("portal:dashboard", "Dashboard"),
    ("portal:audit", "Audit"),
    ("portal:saved_views", "Saved views"),
    ("portal:endpoints", "Endpoints"),
    ("portal:keys", "API keys"),
    ("portal:webhooks", "Webhooks"),
    ("portal:config", "Config"),
    ("portal:discovery", "Discovery"),
    ("portal:about", "About"),
)


def boot_warnings(settings: Settings) -> list[str]:
    """The portal's warning rules (:func:`apitest.config.rules.boot_warnings`) this configuration breaks."""
    if not settings.oidc.enabled:
        log.info("portal: oidc disabled, sign-in by API key only")
    return [finding.message for finding in rules.boot_warnings(settings)]


class Portal:
    name = "portal"

    def __init__(
        self,
        services: Services,
        chain: AuthChain,
        *,
        database: Database | None,
        audit: AuditWriter | None,
        audit_store: AuditStore | None,
        audit_retention: RetentionJob | None,
        key_store: KeyStore | None,
        oidc_validator: OIDCValidator | None,
        webhooks: WebhookService | None,
    ) -> None:
        settings = services.settings
        self.services = services
        self.database = database  # None when database.url is empty
        self.audit = audit  # None when audit.enabled is off: buffer, writer, stats
        self.audit_store = audit_store  # the store the writer writes to (the portal's queries)
        self.audit_retention = audit_retention  # None when the audit is off
        self.key_store = key_store  # None when api_keys.db.enabled is off
        self.oidc_validator = oidc_validator  # None when oidc.enabled is off (discovery + JWKS cache)
        self.webhooks = webhooks  # None when webhooks.enabled is off
        self.settings = settings
        self.sessions = SessionCodec(settings)
        self.chain = chain
        self.key_header = settings.api_keys.header_name
        self.oidc = OIDCLogin(settings, self.sessions) if settings.oidc.enabled else None
        self.renderer = Renderer({"server_name": settings.server.name, "oidc_enabled": settings.oidc.enabled})
        self.revoked: RevokedSessions = (
            SQLRevokedSessions(database) if database is not None else MemoryRevokedSessions()
        )
        self.saved_views: SavedViews = SQLSavedViews(database) if database is not None else MemorySavedViews()
        self.file_keys = {k.name for k in settings.api_keys.file if k.name}
        self.bearer_tokens = {t.name for t in settings.bearer.tokens if t.name}
        for warning in boot_warnings(settings):
            log.warning(warning)

    async def start(self) -> None:
        if self.oidc is not None:
            self.oidc.start(self.oidc_validator)  # after the validator started: reuses its discovery document

    async def stop(self) -> None:
        return None

    # PortalAuth -----------------------------------------------------------------------------------

    def presented(self, request: Request) -> Presented:
        """The credential headers a script may send: the configured key header (``X-API-Key`` as well)
        or ``Authorization: Bearer``. Query parameters are never read here."""
        presented = read_credentials(request.scope, header_name=self.key_header, query_name="", read_query=False)
        if not presented.any and self.key_header.lower() != auth.DEFAULT_KEY_HEADER.lower():
            presented = read_credentials(
                request.scope, header_name=auth.DEFAULT_KEY_HEADER, query_name="", read_query=False
            )
        return presented

    async def check(self, presented: Presented) -> Identity | Invalid:
        """Run the inbound chain over a presented credential; anonymous never counts."""
        try:
            result = await self.chain.resolve(presented)
        except AuthBackendError as exc:
            log.warning("auth chain error", extra={"err": str(exc), "where": "portal"})
            return Invalid("auth error", "the credential store failed")
        if isinstance(result, Identity) and result.auth_type != "anonymous":
            return result
        return result if isinstance(result, Invalid) else Invalid("no credential", "")

    # Sessions -------------------------------------------------------------------------------------

    async def read_session(self, request: Request) -> tuple[ReadStatus, Session | None]:
        """The session cookie, checked on use: signed and young enough, not signed out, and its key still
        valid. ``("ended", None)`` when it was signed out or its key revoked, expired or removed."""
        status, session = self.sessions.read(request)
        if session is None:
            return status, None
        reason = await self.session_ended(session)
        if reason:
            log.info("portal session ended", extra={"reason": reason, "subject": session.identity.subject})
            return "ended", None
        return status, session

    async def session_ended(self, session: Session) -> str:
        """Why this session no longer counts, or ""."""
        try:
            if await self.revoked.is_revoked(session.sid):
                return "signed out"
            identity = session.identity
            if identity.auth_type == "bearer" and identity.api_key_id not in self.bearer_tokens:
                return "bearer token no longer configured"
            if identity.auth_type == "apikey" and identity.api_key_id not in self.file_keys:
                return await self._database_key_ended(identity.api_key_id, session.issued_at)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("portal session check failed", extra={"err": describe(exc)})
            return "session check failed"
        return ""

    async def _database_key_ended(self, name: str, issued_at: float) -> str:
        store = self.key_store
        record = await store.active(name) if store is not None else None
        if record is None:
            return "key revoked or removed"
        now = utcnow()
        if record.expires_at is not None and record.expires_at <= now:
            return "key expired"
        if record.created_at.timestamp() > issued_at:
            return "key revoked and replaced since sign-in"
        return ""

    async def end_session(self, session: Session) -> None:
        """Sign-out: record the session id until the cookie would expire by itself."""
        until = datetime.fromtimestamp(session.issued_at, UTC) + timedelta(seconds=self.sessions.ttl)
        await self.revoked.revoke(session.sid, until)

    async def resolve(self, request: Request) -> auth.PortalContext:
        async def chain(req: Request) -> Identity | Invalid | None:
            return await self.check(self.presented(req))

        return await auth.resolve(
            request,
            await self.read_session(request),
            chain=chain,
            allow_anonymous=self.settings.portal.allow_anonymous,
            key_header=self.key_header,
        )

    async def admin_check(self, request: Request) -> Identity | Response | None:
        """The session way into ``/api/v1/admin/keys`` (see :class:`apitest.auth.admin.AdminAuth`)."""
        status, session = await self.read_session(request)
        if session is None:
            if self.settings.portal.allow_anonymous and not self.presented(request).any:
                return error_response("sign in or reload the portal page first (anonymous portal session)", 403)
            return None
        ctx = auth.PortalContext(session.identity, "session", session, status)
        if not await auth.csrf_ok(request, ctx):
            return error_response("missing or invalid CSRF token (send X-CSRF-Token)", 403)
        return session.identity.to_identity()

    # Rendering ------------------------------------------------------------------------------------

    def render(self, request: Request, template: str, context: Mapping[str, Any], status: int = 200) -> Response:
        ctx = request.scope.get("state", {}).get("portal")
        shown = {"portal:keys": self.settings.api_keys.db.enabled, "portal:webhooks": self.settings.webhooks.enabled}
        nav = [(name, label) for name, label in NAV if shown.get(name, True)]
        base = {
            "ctx": ctx,
            "identity": ctx.identity if ctx else None,
            "csrf_token": ctx.csrf_token if ctx else "",
            "nav": nav,
            "allow_anonymous": self.settings.portal.allow_anonymous,
        }
        return self.renderer.render(request, template, {**base, **context}, status)

    async def forbidden_page(self, request: Request, ctx: auth.PortalContext) -> Response:
        request.scope.setdefault("state", {})["portal"] = ctx
        response = self.render(
            request,
            "error.html",
            {
                "title": "Form expired",
                "message": "This form's security token is missing or out of date (the session may have been "
                "renewed in another tab). Go back, reload the page and try again.",
                "status": 403,
            },
            status=403,
        )
        if ctx.issue is not None:
            self.sessions.issue(response, ctx.issue)
        return response

    def new_session(self, identity: Any) -> Session:
        return Session(identity, new_csrf_token())


PORTAL_KEY = "apitest.portal"  # scope key: the Portal that serves this route (set by bind_portal)


def portal_of(request: Request) -> Portal:
    """The portal this route belongs to; :func:`bind_portal` put it in the scope."""
    portal = request.scope.get(PORTAL_KEY)
    assert isinstance(portal, Portal), "portal routes are bound by apitest.portal.routes.portal_routes"
    return portal


def bind_portal(portal: Portal, endpoint: auth.Endpoint) -> auth.Endpoint:
    """``endpoint`` served by ``portal``: its pages, guard and JSON routes reach it through :func:`portal_of`."""

    @functools.wraps(endpoint)
    async def bound(request: Request) -> Response:
        request.scope[PORTAL_KEY] = portal
        return await endpoint(request)

    return bound


def _guard(kind: Literal["page", "api"]) -> Callable[[auth.Endpoint], auth.Endpoint]:
    def decorate(handler: auth.Endpoint) -> auth.Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            portal = portal_of(request)
            ctx = await portal.resolve(request)
            if ctx.identity is None:
                if kind == "api" or ctx.rejected:
                    return auth.unauthorized()
                response = auth.login_redirect(request, ctx.session_status)
                if ctx.session_status in ("expired", "invalid", "ended"):
                    portal.sessions.clear(response)
                return response
            if not await auth.csrf_ok(request, ctx):
                if kind == "page":
                    return await portal.forbidden_page(request, ctx)
                return error_response("missing or invalid CSRF token (send X-CSRF-Token)", 403)
            request.scope.setdefault("state", {})["portal"] = ctx
            response = await handler(request)
            if ctx.issue is not None:
                portal.sessions.issue(response, ctx.issue)
            return response

        return endpoint

    return decorate


page = _guard("page")
api = _guard("api")
