"""The long-lived collaborators of one app, constructed once by :func:`apitest.app.create_app`.

A frozen record: nothing fills it in later and nothing looks it up per request. ``create_app`` builds
every object here and hands each to the middleware, handlers and components that use it; the record
itself goes only to the portal (whose pages show most of them) and to ``/metrics``. A field is ``None``
only when the configuration turns its feature off, and stays so for the life of the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from apitest.attempts import AttemptCounters
from apitest.audit.buffer import AuditWriter
from apitest.audit.records import AuditStore
from apitest.audit.retention import RetentionJob
from apitest.auth.evidence import Fingerprinter
from apitest.auth.keystore import KeyStore
from apitest.auth.oidc import OIDCValidator
from apitest.config import Settings
from apitest.db.engine import Database
from apitest.idempotency import IdempotencyStore
from apitest.lifecycle import Lifecycle
from apitest.openapi import OpenAPIDocument
from apitest.registry import RouteSpec
from apitest.webhooks.service import WebhookService


@dataclass(frozen=True)
class Services:
    settings: Settings
    lifecycle: Lifecycle
    routes: list[RouteSpec]  # enabled /v1 routes, registration order
    openapi: OpenAPIDocument  # built from the enabled routes
    fingerprints: Fingerprinter  # keyed credential fingerprints (audit rows, evidence)
    idempotency: IdempotencyStore  # database or memory
    attempts: AttemptCounters  # /v1/attempts counters, database or memory
    database: Database | None = None  # None when database.url is empty
    audit: AuditWriter | None = None  # None when audit.enabled is off: buffer, writer, stats
    audit_store: AuditStore | None = None  # the store the writer writes to (queries for the portal)
    audit_retention: RetentionJob | None = None  # runs when audit.retention_days > 0
    key_store: KeyStore | None = None  # None when api_keys.db.enabled is off
    oidc: OIDCValidator | None = None  # None when oidc.enabled is off (discovery + JWKS cache)
    webhooks: WebhookService | None = None  # None when webhooks.enabled is off
