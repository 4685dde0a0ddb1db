"""``POST /v1/orders``: create an order, honouring ``Idempotency-Key``.

The body is an order as ``POST /v1/validate`` checks it (415 / 400 with the same problems). Then:

- no ``Idempotency-Key``: a new order every time, with a random id;
- a new key: the order is created with an id derived from the caller, the key and the body
  (``ord_`` + 24 hex digits of SHA-256), answered 201 and remembered for ``idempotency.ttl``;
- the same key and the same body (the same JSON value: key order and whitespace do not matter): the
  first response replayed byte for byte with ``Idempotent-Replayed: true``;
- the same key with a different body: 422; the same key while its first request still runs: 409 with
  ``Retry-After: 1``.

``delay_ms`` (0 to 60000) holds the request after its key is claimed, which is how a test produces the
409 on demand. Every answer carries ``Apitest-Worker: <pid>`` (never replayed), so a multi-worker test
can see which process served it. Keys belong to the caller (``<auth_type>:<key name or subject>``, or
``anonymous``): two callers may use the same key independently.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.auth.identity import identity_of
from apitest.endpoints.helpers import (
    ParamError,
    error_response,
    json_bytes,
    non_negative_bounded,
    services_of,
    sleep_unless_disconnected,
)
from apitest.endpoints.lab_validation import parse_order, validation_failed
from apitest.failures import note_failure
from apitest.idempotency import Claimed, IdempotencyStore, InFlight, Mismatch, Replay, StoredResponse

DELAY_MAX_MS = 60000
KEY_MAX = 255
WORKER_HEADER = "Apitest-Worker"
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= KEY_MAX or not all(0x20 <= ord(c) < 0x7F for c in key):
        raise ParamError(f"Idempotency-Key must be 1 to {KEY_MAX} printable ASCII characters")
    return key


def owner_of(request: Request) -> str:
    identity = identity_of(request)
    if identity.auth_type == "anonymous":
        return "anonymous"
    return f"{identity.auth_type}:{identity.key_name or identity.subject}"


def body_hash(order: dict[str, Any]) -> str:
    canonical = json.dumps(order, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_id(owner: str, key: str | None, digest: str) -> str:
    if key is None:
        return "ord_" + secrets.token_hex(12)
    return "ord_" + hashlib.sha256(f"{owner}\n{key}\n{digest}".encode()).hexdigest()[:24]


def created(order: dict[str, Any], oid: str, key: str | None) -> StoredResponse:
    body: dict[str, Any] = {"id": oid, "status": "created"}
    if key is not None:
        body["idempotency_key"] = key
    body["order"] = order
    return StoredResponse(201, {"Content-Type": "application/json"}, json_bytes(body))


def render(stored: StoredResponse, *, replayed: bool = False) -> Response:
    response = Response(stored.body, status_code=stored.status, headers=stored.headers)
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    response.headers[WORKER_HEADER] = str(os.getpid())
    return response


def refused(request: Request, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    note_failure(request.scope, "conflict", message)
    response = error_response(message, status, headers)
    response.headers[WORKER_HEADER] = str(os.getpid())
    return response


async def create_order(request: Request) -> Response:
    key = idempotency_key(request)
    delay_ms = non_negative_bounded(request, "delay_ms", 0, DELAY_MAX_MS)
    order, problems = await parse_order(request)
    if order is None:
        return validation_failed(request, problems)
    owner, digest = owner_of(request), body_hash(order)
    response = created(order, order_id(owner, key, digest), key)
    if key is None:
        return await deliver(request, response, delay_ms, None)
    store = services_of(request).idempotency
    assert store is not None, "IdempotencyComponent runs in every app"
    claim = await store.claim(owner, key, digest)
    if isinstance(claim, Replay):
        return render(claim.response, replayed=True)
    if isinstance(claim, Mismatch):
        return refused(request, "Idempotency-Key was already used with a different request body", 422)
    if isinstance(claim, InFlight):
        return refused(request, "a request with this Idempotency-Key is still in progress", 409, {"Retry-After": "1"})
    assert isinstance(claim, Claimed)
    return await deliver(request, response, delay_ms, (store, owner, key))


async def deliver(
    request: Request, response: StoredResponse, delay_ms: int, claim: tuple[IdempotencyStore, str, str] | None
) -> Response:
    """Wait ``delay_ms`` holding the claim, then store the response under the key (or give the key back)."""
    completed = False
    try:
        if not await sleep_unless_disconnected(request, delay_ms / 1000):
            note_failure(request.scope, "client_disconnected", f"client left during delay_ms={delay_ms}")
            return Response(status_code=499)
        if claim is not None:
            store, owner, key = claim
            await store.complete(owner, key, response)
        completed = True
        return render(response)
    finally:
        if claim is not None and not completed:
            store, owner, key = claim
            await store.release(owner, key)
