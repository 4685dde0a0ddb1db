"""What the fixture handlers need from their app, handed to them once by ``create_app``.

A handler that needs a collaborator takes the app's :class:`EndpointDeps` as a keyword argument and is
marked with :func:`needs_deps`::

    @needs_deps
    async def attempt(request: Request, *, deps: EndpointDeps) -> Response:
        count = await deps.attempts.next(key, ttl)

Its route is declared as usual (``RouteSpec(..., attempt, ...)``); :func:`apitest.endpoints.bind_routes`
(called by ``create_app``) replaces every marked handler with one bound to that app's ``EndpointDeps``, so
nothing is looked up per request and a marked handler outside an app refuses to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from apitest.attempts import AttemptCounters
from apitest.config import Settings
from apitest.idempotency import IdempotencyStore
from apitest.registry import Handler
from apitest.sensitive import Sensitive, sensitive_for


class WebhookSender(Protocol):
    """The part of :class:`apitest.webhooks.service.WebhookService` that ``/v1/webhooks/send`` uses."""

    async def send(
        self, event_type: str, data: Any, subscription: str | None = None
    ) -> tuple[str, list[str], list[str]]: ...


@dataclass(frozen=True)
class EndpointDeps:
    settings: Settings
    attempts: AttemptCounters  # /v1/attempts counters (database or memory)
    idempotency: IdempotencyStore  # /v1/orders Idempotency-Key records (database or memory)
    webhooks: WebhookSender | None = None  # None when webhooks.enabled is off: /v1/webhooks/send answers 503

    @property
    def sensitive(self) -> Sensitive:
        """The credential names of this configuration (redacted wherever a handler echoes the request)."""
        keys = self.settings.api_keys
        return sensitive_for(self.settings.audit.redact_keys, keys.header_name, keys.query_param_name)


class DepsHandler(Protocol):
    """A handler that needs the app's collaborators."""

    def __call__(self, request: Request, *, deps: EndpointDeps) -> Any: ...  # awaitable Response


class Unbound:
    """A :class:`DepsHandler` in a route table before ``create_app`` binds it (see :func:`bind_handler`)."""

    def __init__(self, target: DepsHandler) -> None:
        self.target = target
        self.__name__ = getattr(target, "__name__", "handler")
        self.__doc__ = target.__doc__

    async def __call__(self, request: Request) -> Response:
        raise LookupError(f"{self.__name__} needs the app's collaborators; routes are bound by create_app")


def needs_deps(target: DepsHandler) -> Unbound:
    """Mark a handler that takes ``deps``: its routes are bound to the app's :class:`EndpointDeps`."""
    return Unbound(target)


def bind_handler(handler: Handler, deps: EndpointDeps) -> Handler:
    """``handler`` with ``deps`` applied when it was marked by :func:`needs_deps`; others as they are."""
    if isinstance(handler, Unbound):
        bound: Handler = partial(handler.target, deps=deps)
        return bound
    return handler
