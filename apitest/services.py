"""Long-lived collaborators of one app instance, created in the lifespan and shared by the
middleware and handlers (``request.app.state.services``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apitest.config import Settings
from apitest.lifecycle import Lifecycle

if TYPE_CHECKING:
    from apitest.attempts import AttemptCounters
    from apitest.audit.buffer import AuditWriter
    from apitest.audit.records import AuditStore
    from apitest.audit.retention import RetentionJob
    from apitest.auth.keystore import KeyStore
    from apitest.auth.oidc import OIDCValidator
    from apitest.db.engine import Database
    from apitest.idempotency import IdempotencyStore
    from apitest.openapi import OpenAPIDocument
    from apitest.portal.core import Portal
    from apitest.registry import RouteSpec
    from apitest.webhooks.service import WebhookService


@dataclass
class Services:
    settings: Settings
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    routes: list[RouteSpec] = field(default_factory=list)  # enabled /v1 routes, registration order
    database: Database | None = None  # set by DatabaseComponent when database.url is configured
    key_store: KeyStore | None = None  # set by KeyStoreComponent when api_keys.db.enabled
    oidc: OIDCValidator | None = None  # set by OIDCComponent when oidc.enabled (discovery + JWKS cache)
    openapi: OpenAPIDocument | None = None  # built by create_app from the enabled routes
    portal: Portal | None = None  # set by the portal component when portal.enabled
    audit: AuditWriter | None = None  # set by AuditComponent when audit.enabled: buffer, writer, stats
    audit_store: AuditStore | None = None  # the audit store the writer writes to (queries for the portal)
    audit_retention: RetentionJob | None = None  # set by AuditComponent; runs when retention_days > 0
    idempotency: IdempotencyStore | None = None  # set by IdempotencyComponent (database or memory)
    webhooks: WebhookService | None = None  # set by WebhookComponent when webhooks.enabled
    attempts: AttemptCounters | None = None  # set by AttemptsComponent (database or memory)
