"""``POST /v1/orders``: create an order, honouring ``Idempotency-Key``.

The body is an order as ``POST /v1/validate`` checks it (415 / 400 with the same problems). Then:

- no ``Idempotency-Key``: a new order every time, with a random id;
- a new key: the order is created with an id derived from the caller, the key and the body
  (``ord_`` + 24 hex digits of SHA-256), answered 201 and remembered for ``idempotency.ttl``;
- the same key and the same body (the same JSON value: key order and whitespace do not matter): the
  first response replayed byte for byte with ``Idempotent-Replayed: true``;
- the same key with a different body: 422; the same key while its first request still runs: 409 with
  ``Retry-After: 1``.

``after_commit`` loses the response of a request that created (or first stored) its order, which is the case
``Idempotency-Key`` exists for: the order and its key record are committed first, then ``reset`` resets the
connection (TCP RST, no response), ``abort`` sends the head and half of the body then closes, and
``timeout`` holds the answer ``stall_ms`` (default 30000, at most 60000) so a gateway or client timeout
fires first. A retry with the same key gets the replay. A replay itself is never lost, and ``reset`` needs
the uvicorn connection (501 before anything is created otherwise).

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
from starlette.types import Receive, Scope, Send

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import non_negative_bounded, query, sleep_unless_disconnected
from apitest.endpoints.lab_faults import reset, wait_for_disconnect
from apitest.endpoints.lab_validation import parse_order, validation_failed
from apitest.failures import note_detail, note_failure
from apitest.http import ParamError, error_response, json_bytes
from apitest.idempotency import Claimed, IdempotencyStore, InFlight, Mismatch, Replay, StoredResponse
from apitest.middleware.connection import transport_of
from apitest.outcome import identity_of

DELAY_MAX_MS = 60000
KEY_MAX = 255
WORKER_HEADER = "Apitest-Worker"
REPLAYED_HEADER = "Idempotent-Replayed"
AFTER_COMMIT = ("reset", "abort", "timeout")
STALL_DEFAULT_MS, STALL_MAX_MS = 30000, 60000


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


class LostResponse(Response):
    """Loses a committed order's response: connection reset, body cut short, or held past a timeout."""

    def __init__(self, response: Response, order: str, kind: str, stall_ms: int) -> None:
        super().__init__(status_code=response.status_code)
        self.response, self.order, self.kind, self.stall_ms = response, order, kind, stall_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_detail(scope, "after_commit", self.kind)
        note_detail(scope, "order_id", self.order)
        transport = transport_of(scope)
        what = f"after_commit={self.kind}: order {self.order} committed"
        if self.kind == "timeout":
            if await sleep_unless_disconnected(Request(scope, receive), self.stall_ms / 1000):
                note_failure(scope, "fault_injected", f"{what}, answered after stall_ms={self.stall_ms}")
                await self.response(scope, receive, send)
            else:
                note_failure(scope, "client_disconnected", f"{what}; client left during stall_ms={self.stall_ms}")
            return
        if self.kind == "reset":
            note_failure(scope, "fault_injected", f"{what}, then the connection was reset")
            assert transport is not None, "checked before the order was created"
            reset(transport)
            await wait_for_disconnect(receive)
            return
        body = bytes(self.response.body)
        note_failure(scope, "fault_injected", f"{what}, then sent {len(body) // 2} of {len(body)} body bytes")
        headers = [(k, v) for k, v in self.response.raw_headers if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        if transport is not None:  # else the server closes a connection whose response the app left incomplete
            transport.close()
            await wait_for_disconnect(receive)


def lost_response(request: Request) -> tuple[str | None, int]:
    """``after_commit`` and ``stall_ms``, checked before anything is created."""
    kind = query(request, "after_commit") or None
    if kind is not None and kind not in AFTER_COMMIT:
        raise ParamError(f"after_commit must be one of {', '.join(AFTER_COMMIT)}")
    stall_ms = non_negative_bounded(request, "stall_ms", STALL_DEFAULT_MS, STALL_MAX_MS)
    if kind == "reset" and transport_of(request.scope) is None:
        raise ParamError("after_commit=reset needs the client connection, which this server does not expose", 501)
    return kind, stall_ms


@needs_deps
async def create_order(request: Request, *, deps: EndpointDeps) -> Response:
    key = idempotency_key(request)
    delay_ms = non_negative_bounded(request, "delay_ms", 0, DELAY_MAX_MS)
    after_commit, stall_ms = lost_response(request)
    order, problems = await parse_order(request)
    if order is None:
        return validation_failed(request, problems)
    owner, digest = owner_of(request), body_hash(order)
    response = created(order, order_id(owner, key, digest), key)
    if key is None:
        return lose(await deliver(request, response, delay_ms, None), after_commit, stall_ms)
    store = deps.idempotency
    claim = await store.claim(owner, key, digest)
    if isinstance(claim, Replay):
        return render(claim.response, replayed=True)
    if isinstance(claim, Mismatch):
        return refused(request, "Idempotency-Key was already used with a different request body", 422)
    if isinstance(claim, InFlight):
        return refused(request, "a request with this Idempotency-Key is still in progress", 409, {"Retry-After": "1"})
    assert isinstance(claim, Claimed)
    return lose(await deliver(request, response, delay_ms, (store, owner, key)), after_commit, stall_ms)


def lose(response: Response, after_commit: str | None, stall_ms: int) -> Response:
    if after_commit is None or response.status_code != 201:
        return response
    order = json.loads(bytes(response.body))["id"]
    return LostResponse(response, str(order), after_commit, stall_ms)


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
