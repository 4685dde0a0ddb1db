"""``/api/v1/admin/webhooks``: subscriptions, the delivery log and redelivery.

- ``GET /api/v1/admin/webhooks``: 200 ``{"subscriptions": [...]}`` (secrets never listed).
- ``POST /api/v1/admin/webhooks`` with ``{name, url, secret?, filter?, event_types?, scheme?, active?,
  description?}``: 201 ``{"subscription": {...}, "secret": "whsec_..."}``, the secret shown this once.
- ``GET|PATCH|DELETE /api/v1/admin/webhooks/{ref}`` (id or name): one subscription; PATCH changes ``url``,
  ``filter``, ``event_types``, ``scheme``, ``active``, ``description``; DELETE removes it and its log (204).
  Subscriptions from the configuration file are changed in the file, not here (409).
- ``GET /api/v1/admin/webhooks/deliveries`` (alias ``/logs``): newest first, filters ``subscription``,
  ``state``, ``event_type``, ``event_id``, ``status`` (``404`` or ``5xx``), ``limit``, ``next``.
- ``GET /api/v1/admin/webhooks/deliveries/{id}``: one delivery with its payload and every attempt.
- ``POST /api/v1/admin/webhooks/deliveries/{id}/redeliver`` (alias ``/api/v1/admin/webhooks/{id}/retry``):
  202; queued again now with a fresh round of attempts (409 while it is being sent).

Who may call them: :class:`~apitest.auth.admin.AdminAuth` (as for keys: a credential header through the
inbound chain, or the portal session with its CSRF token), and the identity must hold the ``admin``
scope: anonymous visitors of the open dev portal (``portal.allow_anonymous``) may not manage them, as for
keys. Not audited.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apitest import logs
from apitest.audit.filters import FilterError, decode_cursor, encode_cursor
from apitest.audit.records import Cursor
from apitest.auth.admin import AdminAuth, read_json_body
from apitest.auth.base import describe
from apitest.config import Settings
from apitest.http import error_response, json_response
from apitest.identity import Identity
from apitest.webhooks.records import STATES, DeliveryCursor, DeliveryFilters, DeliveryPage, Subscription
from apitest.webhooks.rules import subscription_fields
from apitest.webhooks.service import WebhookService
from apitest.webhooks.store import NameTaken

log = logs.get("webhooks.api")

ADMIN_SCOPE = "admin"
BASE = "/api/v1/admin/webhooks"
_STATUS = re.compile(r"^([1-5])([0-9][0-9]|xx)$", re.IGNORECASE)
Handler = Callable[[Request, Identity, WebhookService], Awaitable[Response]]


def lacks_admin(identity: Identity) -> bool:
    """Webhook management needs the ``admin`` scope, which no anonymous identity holds (as for keys)."""
    return identity.auth_type == "anonymous" or ADMIN_SCOPE not in identity.scopes


def insufficient_scope() -> Response:
    return json_response(
        {"error": "insufficient_scope", "required_scope": ADMIN_SCOPE},
        403,
        {"WWW-Authenticate": f'Bearer realm="api-test-portal", error="insufficient_scope", scope="{ADMIN_SCOPE}"'},
    )


def delivery_filters(query: Mapping[str, str]) -> tuple[DeliveryFilters, dict[str, str], list[str]]:
    """Filters of the delivery log from query parameters: the filters, the accepted parameters, the errors."""
    f = DeliveryFilters()
    params: dict[str, str] = {}
    errors: list[str] = []
    for name in ("subscription", "state", "event_type", "event_id", "status"):
        raw = (query.get(name) or "").strip()
        if not raw:
            continue
        if len(raw) > 200:
            errors.append(f"{name}: longer than 200 characters")
            continue
        if name == "state" and raw not in STATES:
            errors.append(f"state: one of {', '.join(STATES)}")
            continue
        if name == "status":
            m = _STATUS.match(raw)
            if not m:
                errors.append("status: a status code (404) or a class (5xx)")
                continue
            if m.group(2).lower() == "xx":
                f.status_class = int(m.group(1))
            else:
                f.status = int(raw)
        else:
            setattr(f, name, raw)
        params[name] = raw
    return f, params, errors


def page_token(page: DeliveryPage) -> str | None:
    return encode_cursor(Cursor(page.next.created_at, page.next.id)) if page.next else None


def parse_token(token: str) -> DeliveryCursor | None:
    if not token:
        return None
    cursor = decode_cursor(token)
    return DeliveryCursor(cursor.ts, cursor.id)


class WebhooksAPI:
    def __init__(self, settings: Settings, service: WebhookService, auth: AdminAuth) -> None:
        self.settings = settings
        self.service = service
        self.auth = auth

    def routes(self) -> list[BaseRoute]:
        g = self._guarded
        return [
            Route(BASE, g(self.subscriptions), methods=["GET", "POST"], name="admin_webhooks"),
            Route(f"{BASE}/deliveries", g(self.deliveries), methods=["GET"], name="admin_webhook_deliveries"),
            Route(f"{BASE}/logs", g(self.deliveries), methods=["GET"], name="admin_webhook_logs"),
            Route(f"{BASE}/deliveries/{{id}}", g(self.delivery), methods=["GET"], name="admin_webhook_delivery"),
            Route(
                f"{BASE}/deliveries/{{id}}/redeliver",
                g(self.redeliver),
                methods=["POST"],
                name="admin_webhook_redeliver",
            ),
            Route(f"{BASE}/{{id}}/retry", g(self.redeliver), methods=["POST"], name="admin_webhook_retry"),
            Route(f"{BASE}/{{id}}", g(self.subscription), methods=["GET", "PATCH", "DELETE"], name="admin_webhook"),
        ]

    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            identity = await self.auth(request)
            if isinstance(identity, Response):
                return identity
            if lacks_admin(identity):
                return insufficient_scope()
            service = self.service
            try:
                return await handler(request, identity, service)
            except OverflowError as exc:
                return error_response(str(exc), 413)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("webhook store error", extra={"err": describe(exc), "path": request.url.path})
                return error_response("webhook store error", 500)

        return endpoint

    async def subscriptions(self, request: Request, identity: Identity, service: WebhookService) -> Response:
        if request.method == "GET":
            subs = await service.store.list_subscriptions()
            return json_response({"subscriptions": [s.to_json() for s in subs]})
        w = self.settings.webhooks
        try:
            fields = subscription_fields(
                await read_json_body(request), allowed_hosts=w.allowed_hosts, default_scheme=w.signature_scheme
            )
            sub = await service.store.create_subscription(
                Subscription(id="", **fields, created_by=identity.email or identity.subject or identity.key_name)
            )
        except ValueError as exc:  # NameTaken too
            return error_response(str(exc), 400)
        log.info("webhook subscription created", extra={"subscription": sub.name, "by": identity.subject})
        body = {"subscription": sub.to_json(), "secret": sub.secret}
        return json_response(body, 201, {"Cache-Control": "no-store"})

    async def subscription(self, request: Request, identity: Identity, service: WebhookService) -> Response:
        sub = await service.store.get_subscription(request.path_params["id"])
        if sub is None:
            return error_response("webhook subscription not found", 404)
        if request.method == "GET":
            return json_response({"subscription": sub.to_json()})
        if sub.source == "config":
            return error_response("subscription is defined in the configuration file; change it there", 409)
        if request.method == "DELETE":
            await service.store.delete_subscription(sub.id)
            log.info("webhook subscription deleted", extra={"subscription": sub.name, "by": identity.subject})
            return Response(status_code=204)
        w = self.settings.webhooks
        try:
            changes = subscription_fields(
                await read_json_body(request),
                allowed_hosts=w.allowed_hosts,
                default_scheme=sub.scheme,
                partial=True,
            )
        except (ValueError, NameTaken) as exc:
            return error_response(str(exc), 400)
        updated = await service.store.update_subscription(sub.id, changes)
        if updated is None:
            return error_response("webhook subscription not found", 404)
        return json_response({"subscription": updated.to_json()})

    async def deliveries(self, request: Request, identity: Identity, service: WebhookService) -> Response:
        filters, params, errors = delivery_filters(request.query_params)
        if errors:
            return error_response("; ".join(errors), 400)
        try:
            after = parse_token(request.query_params.get("next", ""))
        except FilterError as exc:
            return error_response(str(exc), 400)
        limit_text = request.query_params.get("limit", "50")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 200:
            return error_response("limit: an integer in [1, 200]", 400)
        page = await service.store.list_deliveries(filters, after, int(limit_text))
        body: dict[str, Any] = {
            "filters": params,
            "deliveries": [d.to_json() for d in page.deliveries],
            "next": page_token(page),
        }
        return json_response(body)

    async def delivery(self, request: Request, identity: Identity, service: WebhookService) -> Response:
        delivery = await service.store.get_delivery(request.path_params["id"])
        if delivery is None:
            return error_response("webhook delivery not found", 404)
        return json_response({"delivery": delivery.to_json(with_attempts=True)})

    async def redeliver(self, request: Request, identity: Identity, service: WebhookService) -> Response:
        delivery_id = request.path_params["id"]
        if await service.store.get_delivery(delivery_id) is None:
            return error_response("webhook delivery not found", 404)
        if not await service.redeliver(delivery_id):
            return error_response("delivery is being sent now; try again when the attempt ends", 409)
        log.info("webhook redelivery requested", extra={"delivery_id": delivery_id, "by": identity.subject})
        return json_response({"delivery_id": delivery_id, "state": "pending"}, 202)
