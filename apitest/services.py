"""The long-lived collaborators every app has, constructed once by :func:`apitest.app.create_app`.

A frozen record: nothing fills it in later and nothing looks it up per request. ``create_app`` builds
every object here and hands each to the middleware, handlers and components that use it; the record
itself goes only to the portal (whose pages show most of them). Every field is always present: a
collaborator that a configuration may turn off (the database, the audit writer, store and retention job,
the key store, the OIDC validator, the webhook service) is not here but handed by ``create_app``
directly to each object that uses it, as a constructor argument that is ``None`` when its feature is off
(:class:`apitest.portal.core.Portal`, :class:`apitest.metrics.MetricsSite`, the middleware, the routes).
"""

from __future__ import annotations

from dataclasses import dataclass

from apitest.attempts import AttemptCounters
from apitest.auth.evidence import Fingerprinter
from apitest.config import Settings
from apitest.idempotency import IdempotencyStore
from apitest.lifecycle import Lifecycle
from apitest.openapi import OpenAPIDocument
from apitest.registry import RouteSpec


@dataclass(frozen=True)
class Services:
    settings: Settings
    lifecycle: Lifecycle
    routes: list[RouteSpec]  # enabled /v1 routes, registration order
    openapi: OpenAPIDocument  # built from the enabled routes
    fingerprints: Fingerprinter  # keyed credential fingerprints (audit rows, evidence)
    idempotency: IdempotencyStore  # database or memory
    attempts: AttemptCounters  # /v1/attempts counters, database or memory
