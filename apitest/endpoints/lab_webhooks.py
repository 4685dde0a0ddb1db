"""``POST /v1/webhooks/send`` and ``POST /v1/webhooks/receive``: both directions of webhook traffic.

``send`` enqueues a custom event ``{"type", "data", "subscription"?}`` for the active subscriptions that
take its type (or the one named) and answers 202 with the message and delivery ids; the delivery worker
sends it (``docs/webhooks.md``). 503 when ``webhooks.enabled`` is off, 422 when no subscription takes it.

``receive`` verifies a Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)
or Stripe-style (``Stripe-Signature``) signature over the raw body with ``webhooks.receiver.secrets``:
204 when one matches; otherwise 401 with the exact reason (``missing header``, ``timestamp outside
tolerance``, ``signature mismatch``). A mismatch also reports the size and SHA-256 of the bytes
received and whether they are JSON that re-serializes differently, and whether the signature matches
that compact re-serialization: proof that something (a gateway) reformatted the body in transit. The
route needs no apitest credential (the signature authenticates the sender); a presented bad one is
still a 401. The audit row carries the reason.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.failures import note_failure
from apitest.http import ParamError, error_response, json_response
from apitest.outcome import ErrorCategory
from apitest.registry import BOOL, INT, JSON, STR, Reply, RouteSpec, obj, ok
from apitest.webhooks.events import check_event_type
from apitest.webhooks.signing import AGENT_PREFIX, Signed, Verdict, matches, verify

GROUP = "lab"
MAX_SEND_BYTES = 64 * 1024
STR_LIST: dict[str, Any] = {"type": "array", "items": STR}
CATEGORY: dict[str, ErrorCategory] = {"missing header": "missing_credential"}  # the others are invalid_credential


async def _json_body(request: Request, limit: int) -> Any:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ParamError(f"request body exceeds {limit} bytes", 413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise ParamError("invalid JSON body") from None


@needs_deps
async def send(request: Request, *, deps: EndpointDeps) -> Response:
    body = await _json_body(request, MAX_SEND_BYTES)
    if request.headers.get("user-agent", "").startswith(AGENT_PREFIX):
        message = "a webhook delivery cannot send webhooks (a subscription points at /v1/webhooks/send: a loop)"
        note_failure(request.scope, "bad_request", message)
        return error_response(message, 409)
    service = deps.webhooks
    if service is None:
        note_failure(request.scope, "server_error", "webhooks.enabled is off")
        return error_response("webhooks not enabled (webhooks.enabled)", 503)
    if not isinstance(body, dict):
        raise ParamError('body must be a JSON object: {"type": "order.created", "data": {...}}')
    try:
        event_type = check_event_type(body.get("type"))
    except ValueError as exc:
        raise ParamError(str(exc)) from None
    target = body.get("subscription")
    if target is not None and not isinstance(target, str):
        raise ParamError("subscription: must be a subscription name or id")
    message_id, names, ids = await service.send(event_type, body.get("data", {}), target)
    if not ids:
        who = f"subscription {target!r}" if target else f"subscription takes event type {event_type!r}"
        message = f"no active {who}"
        note_failure(request.scope, "bad_request", message)
        return error_response(message, 422)
    reply = {"message_id": message_id, "type": event_type, "subscriptions": names, "deliveries": ids}
    return json_response(reply, 202)


def evidence(signed: Signed | None, body: bytes, secrets: list[str]) -> dict[str, Any]:
    """What the receiver can say about a body whose signature did not match."""
    out: dict[str, Any] = {"received_bytes": len(body), "received_sha256": hashlib.sha256(body).hexdigest()}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        out |= {"body_is_json": False, "json_reserialized_differs": None, "signature_matches_reserialized": None}
        return out
    compact = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    differs = compact != body
    out |= {
        "body_is_json": True,
        "json_reserialized_differs": differs,
        "reserialized_sha256": hashlib.sha256(compact).hexdigest(),
        "signature_matches_reserialized": bool(differs and signed and matches(signed, secrets, compact)),
    }
    return out


def hint(verdict: Verdict, facts: dict[str, Any]) -> str:
    if verdict.reason != "signature mismatch":
        return verdict.detail
    if facts.get("signature_matches_reserialized"):
        return (
            "the signature matches the compact JSON re-serialization of the body, not the bytes received: "
            "something between the sender and here (a gateway?) reformatted the body in transit"
        )
    if facts.get("json_reserialized_differs"):
        return (
            "the body is JSON that re-serializes differently: it may have been reformatted in transit, "
            "or the secret differs"
        )
    return "wrong secret, or the body was changed in transit (compare received_sha256 with the sender's)"


@needs_deps
async def receive(request: Request, *, deps: EndpointDeps) -> Response:
    settings = deps.settings.webhooks.receiver
    body = await request.body()
    if not settings.secrets:
        note_failure(request.scope, "server_error", "webhooks.receiver.secrets is empty")
        return error_response("no receiver secret configured (webhooks.receiver.secrets)", 503)
    headers = {name: request.headers[name] for name in request.headers}
    verdict, signed = verify(
        headers, body, settings.secrets, now=int(time.time()), tolerance=settings.tolerance_seconds
    )
    if verdict.ok:
        return Response(status_code=204)
    assert verdict.reason is not None
    facts = evidence(signed, body, settings.secrets) if verdict.reason == "signature mismatch" else {}
    reply: dict[str, Any] = {"error": verdict.reason, "scheme": verdict.scheme, "detail": hint(verdict, facts), **facts}
    summary = f"{verdict.reason} ({verdict.scheme}): {reply['detail']}"
    if facts:
        summary += f"; received {facts['received_bytes']} bytes sha256={facts['received_sha256']}"
    note_failure(request.scope, CATEGORY.get(verdict.reason, "invalid_credential"), summary)
    return json_response(reply, 401)


SEND_BODY: dict[str, Any] = {
    "required": True,
    "description": "The event: its type, any JSON data, and optionally one subscription (name or id) to send to.",
    "content": {
        JSON: {
            "schema": obj(
                {"type": STR, "data": {}, "subscription": STR},
                required=["type"],
            ),
            "example": {"type": "order.created", "data": {"id": "ord_1"}},
        }
    },
}
MISMATCH = obj(
    {
        "error": {"type": "string", "enum": ["missing header", "timestamp outside tolerance", "signature mismatch"]},
        "scheme": STR,
        "detail": STR,
        "received_bytes": INT,
        "received_sha256": STR,
        "body_is_json": BOOL,
        "json_reserialized_differs": {"type": ["boolean", "null"]},
        "reserialized_sha256": STR,
        "signature_matches_reserialized": {"type": ["boolean", "null"]},
    },
    required=["error", "scheme", "detail"],
)
ROUTES = [
    RouteSpec(
        "webhook_send",
        "POST",
        "/v1/webhooks/send",
        GROUP,
        "Send a custom event to the webhook subscriptions that take its type (signed, retried, logged).",
        send,
        request_body=SEND_BODY,
        responses={
            202: ok(
                obj({"message_id": STR, "type": STR, "subscriptions": STR_LIST, "deliveries": STR_LIST}),
                "Queued: one delivery per subscription.",
            ),
            400: Reply("The body is not an event.", JSON, {"type": "object"}),
            409: Reply(
                "Sent by a webhook delivery (a subscription pointing here would loop).", JSON, {"type": "object"}
            ),
            422: Reply("No active subscription takes this event.", JSON, {"type": "object"}),
            503: Reply("webhooks.enabled is off.", JSON, {"type": "object"}),
        },
    ),
    RouteSpec(
        "webhook_receive",
        "POST",
        "/v1/webhooks/receive",
        GROUP,
        "Verify a Standard Webhooks or Stripe-style signature over the raw body: 204, or 401 with the reason.",
        receive,
        request_body={"required": True, "content": {"*/*": {"schema": {}}}},
        responses={
            204: Reply("A signature matched, within the timestamp tolerance.", None),
            401: Reply("Why the webhook was refused, with evidence for a signature mismatch.", JSON, MISMATCH),
            503: Reply("webhooks.receiver.secrets is empty.", JSON, {"type": "object"}),
        },
        credential_optional=True,
    ),
]
