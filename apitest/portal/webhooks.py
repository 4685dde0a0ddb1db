"""The Webhooks page: subscriptions (create with the secret shown once, pause, resume, delete, send a test
event) and the delivery log with filters, each delivery's attempts and a Redeliver button.

It uses the same rules and store as ``/api/v1/admin/webhooks`` (:mod:`apitest.webhooks.api`). Forms carry
the session's CSRF token (the page guard checks it), and managing webhooks needs the ``admin`` scope
(anonymous visitors of the open dev portal may look, not manage, as for keys).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from apitest import logs
from apitest.audit.filters import FilterError
from apitest.identity import Identity
from apitest.portal.auth import context_of
from apitest.portal.core import Portal, page
from apitest.webhooks.api import delivery_filters, lacks_admin, page_token, parse_token
from apitest.webhooks.component import schedule_of
from apitest.webhooks.records import STATES, Subscription
from apitest.webhooks.rules import subscription_fields
from apitest.webhooks.service import WebhookService

log = logs.get("portal.webhooks")
TEST_EVENT = "apitest.test"


def _identity(request: Request) -> Identity:
    identity = context_of(request).identity
    assert identity is not None
    return identity.to_identity()


class WebhookPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/portal/webhooks", page(self.index), methods=["GET", "POST"], name="portal:webhooks"),
            Route("/portal/webhooks/{id}/state", page(self.toggle), methods=["POST"], name="portal:webhook_state"),
            Route("/portal/webhooks/{id}/delete", page(self.delete), methods=["POST"], name="portal:webhook_delete"),
            Route("/portal/webhooks/{id}/test", page(self.test), methods=["POST"], name="portal:webhook_test"),
            Route(
                "/portal/webhooks/deliveries/{id}", page(self.delivery), methods=["GET"], name="portal:webhook_delivery"
            ),
            Route(
                "/portal/webhooks/deliveries/{id}/redeliver",
                page(self.redeliver),
                methods=["POST"],
                name="portal:webhook_redeliver",
            ),
        ]

    def _refused(self, request: Request) -> Response | None:
        if self.portal.webhooks is None:
            return self.portal.render(
                request,
                "error.html",
                {"title": "Webhooks off", "message": "webhooks.enabled is off.", "status": 503},
                503,
            )
        if lacks_admin(_identity(request)):
            message = "Managing webhooks needs the admin scope; sign in with a key or token that holds it."
            return self.portal.render(
                request, "error.html", {"title": "Admin scope needed", "message": message, "status": 403}, 403
            )
        return None

    @property
    def service(self) -> WebhookService:
        service = self.portal.webhooks
        assert service is not None
        return service

    async def _context(self, request: Request, **extra: Any) -> dict[str, Any]:
        query = {k: v for k, v in request.query_params.items()}
        filters, params, errors = delivery_filters(query)
        try:
            after = parse_token(query.get("next", ""))
        except FilterError as exc:
            errors.append(str(exc))
            after = None
        store = self.service.store
        page_ = await store.list_deliveries(filters, after, 50)
        w = self.portal.settings.webhooks
        base = {
            "subscriptions": [s.to_json() for s in await store.list_subscriptions()],
            "deliveries": [d.to_json() for d in page_.deliveries],
            "next": page_token(page_),
            "filters": params,
            "errors": errors,
            "states": STATES,
            "counts": await store.counts(),
            "schedule": schedule_of(self.portal.settings).nominal(),
            "settings": {"max_attempts": w.max_attempts, "allowed_hosts": w.allowed_hosts, "jitter": w.jitter},
            "created": None,
            "error": "",
            "notice": query.get("notice", ""),
            "form": {},
        }
        return base | extra

    def _render(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        response = self.portal.render(request, template, context, status)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _back(self, request: Request, notice: str) -> Response:
        target = request.app.url_path_for("portal:webhooks")
        return RedirectResponse(f"{target}?{urlencode({'notice': notice})}", status_code=303)

    async def index(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if request.method == "GET":
            return self._render(request, "webhooks.html", await self._context(request))
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        w = self.portal.settings.webhooks
        identity = _identity(request)
        try:
            fields = subscription_fields(
                {
                    "name": form.get("name", ""),
                    "url": form.get("url", ""),
                    "secret": form.get("secret", "").strip() or None,
                    "filter": form.get("filter", "").strip() or None,
                    "event_types": form.get("event_types", "").replace(",", " ").split(),
                    "scheme": form.get("scheme") or None,
                    "description": form.get("description", "").strip() or None,
                },
                allowed_hosts=w.allowed_hosts,
                default_scheme=w.signature_scheme,
            )
            sub = await self.service.store.create_subscription(
                Subscription(
                    id="", **fields, created_by=identity.email or identity.subject or identity.key_name or "portal"
                )
            )
        except ValueError as exc:
            return self._render(request, "webhooks.html", await self._context(request, error=str(exc), form=form))
        except SQLAlchemyError as exc:
            log.warning("webhook store error", extra={"err": str(exc)})
            context = await self._context(request, error="webhook store error", form=form)
            return self._render(request, "webhooks.html", context, 500)
        log.info("webhook subscription created", extra={"subscription": sub.name, "via": "portal"})
        created = {"subscription": sub.to_json(), "secret": sub.secret}
        return self._render(request, "webhooks.html", await self._context(request, created=created), 201)

    async def _subscription(self, request: Request) -> Subscription | Response:
        if (refused := self._refused(request)) is not None:
            return refused
        sub = await self.service.store.get_subscription(request.path_params["id"])
        if sub is None:
            return self._render(
                request, "webhooks.html", await self._context(request, error="webhook subscription not found"), 404
            )
        return sub

    async def toggle(self, request: Request) -> Response:
        sub = await self._subscription(request)
        if isinstance(sub, Response):
            return sub
        if sub.source == "config":
            context = await self._context(request, error=f"{sub.name} is defined in the configuration file")
            return self._render(request, "webhooks.html", context, 409)
        await self.service.store.update_subscription(sub.id, {"active": not sub.active})
        return self._back(request, f"{sub.name} {'paused' if sub.active else 'resumed'}")

    async def delete(self, request: Request) -> Response:
        sub = await self._subscription(request)
        if isinstance(sub, Response):
            return sub
        if sub.source == "config":
            context = await self._context(request, error=f"{sub.name} is defined in the configuration file")
            return self._render(request, "webhooks.html", context, 409)
        await self.service.store.delete_subscription(sub.id)
        log.info("webhook subscription deleted", extra={"subscription": sub.name, "via": "portal"})
        return self._back(request, f"deleted {sub.name}")

    async def test(self, request: Request) -> Response:
        sub = await self._subscription(request)
        if isinstance(sub, Response):
            return sub
        _, _, ids = await self.service.send(TEST_EVENT, {"note": "test event from the apitest portal"}, sub.id)
        if not ids:
            context = await self._context(request, error=f"{sub.name} is paused: resume it to send")
            return self._render(request, "webhooks.html", context, 409)
        target = request.app.url_path_for("portal:webhook_delivery", id=ids[0])
        return RedirectResponse(str(target), status_code=303)

    async def delivery(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        delivery = await self.service.store.get_delivery(request.path_params["id"])
        if delivery is None:
            return self.portal.render(
                request,
                "error.html",
                {"title": "Not found", "message": "There is no such webhook delivery.", "status": 404},
                404,
            )
        context = {"delivery": delivery.to_json(with_attempts=True), "notice": request.query_params.get("notice", "")}
        return self._render(request, "webhook_delivery.html", context)

    async def redeliver(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        delivery_id = request.path_params["id"]
        ok = await self.service.redeliver(delivery_id)
        notice = "queued again" if ok else "not queued: it is being sent now, or it does not exist"
        target = request.app.url_path_for("portal:webhook_delivery", id=delivery_id)
        return RedirectResponse(f"{target}?{urlencode({'notice': notice})}", status_code=303)
