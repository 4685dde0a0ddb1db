from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from apitest.endpoints.lab_orders import body_hash
from tests.support import make_app
from tests.wire import StateRecorder, read_until_closed, recorded_client, request_bytes, serve

ORDER: dict[str, Any] = {
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "sku": "ABC-1234",
    "quantity": 2,
    "unit_price": 19.99,
    "currency": "EUR",
}


@pytest.fixture(params=["memory", "sqlite"])
def overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The app's settings: keys in memory (no database) or in a migrated SQLite file."""
    if request.param == "memory":
        return {}
    return {"database": {"url": request.getfixturevalue("sqlite_url"), "migrate_on_boot": False}}


@pytest.fixture
async def lab(overrides: dict[str, Any]) -> AsyncIterator[tuple[httpx.AsyncClient, StateRecorder]]:
    async with recorded_client(overrides) as pair:
        yield pair


async def post(client: httpx.AsyncClient, body: Any = ORDER, key: str | None = None, query: str = "") -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await client.post("/v1/orders" + query, json=body, headers=headers)


def expected_id(key: str, order: dict[str, Any], owner: str = "anonymous") -> str:
    return "ord_" + hashlib.sha256(f"{owner}\n{key}\n{body_hash(order)}".encode()).hexdigest()[:24]


async def test_without_a_key_every_post_is_a_new_order(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    first, second = await post(client), await post(client)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json() == {"id": first.json()["id"], "status": "created", "order": ORDER}
    assert "idempotent-replayed" not in first.headers and "idempotent-replayed" not in second.headers
    assert first.headers["apitest-worker"] == str(os.getpid())


async def test_same_key_same_body_replays_the_first_response(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    first = await post(client, key="k-1")
    assert first.status_code == 201
    assert first.json() == {
        "id": expected_id("k-1", ORDER),
        "status": "created",
        "idempotency_key": "k-1",
        "order": ORDER,
    }
    assert "idempotent-replayed" not in first.headers
    reordered = dict(reversed(list(ORDER.items())))  # the same JSON value
    for body in (ORDER, reordered):
        again = await post(client, body, key="k-1")
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["content-type"] == "application/json"
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["apitest-worker"] == str(os.getpid())
        assert again.headers["x-request-id"] != first.headers["x-request-id"]


async def test_same_key_other_body_is_422(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, recorder = lab
    await post(client, key="k-2")
    r = await post(client, ORDER | {"quantity": 3}, key="k-2")
    assert r.status_code == 422
    assert r.json() == {"error": "Idempotency-Key was already used with a different request body"}
    assert recorder.states[-1]["error_category"] == "conflict"
    assert recorder.states[-1]["error_message"] == "Idempotency-Key was already used with a different request body"


async def test_same_key_while_in_flight_is_409_then_replayed(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, recorder = lab
    slow = asyncio.ensure_future(post(client, key="k-3", query="?delay_ms=400"))
    await asyncio.sleep(0.15)
    during = await post(client, key="k-3")
    other_body = await post(client, ORDER | {"quantity": 9}, key="k-3")
    first = await asyncio.wait_for(slow, 5)
    after = await post(client, key="k-3")
    assert first.status_code == 201
    assert during.status_code == 409
    assert during.json() == {"error": "a request with this Idempotency-Key is still in progress"}
    assert during.headers["retry-after"] == "1"
    assert other_body.status_code == 422  # a different body is refused even while the first runs
    assert (after.status_code, after.content, after.headers["idempotent-replayed"]) == (201, first.content, "true")
    assert "conflict" in [s.get("error_category") for s in recorder.states]


async def test_keys_expire_after_the_ttl(overrides: dict[str, Any]) -> None:
    async with recorded_client(overrides | {"idempotency": {"ttl": "300ms"}}) as (client, _):
        first = await post(client, key="k-4")
        assert "idempotent-replayed" in (await post(client, key="k-4")).headers
        await asyncio.sleep(0.35)
        fresh = await post(client, ORDER | {"quantity": 5}, key="k-4")
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]


async def test_invalid_body_does_not_use_up_the_key(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    bad = await post(client, {"quantity": 0}, key="k-5")
    assert bad.status_code == 400
    assert bad.json()["error"] == "validation failed"
    r = await client.post("/v1/orders", content=b"x=1", headers={"Idempotency-Key": "k-5"})
    assert r.status_code == 415
    good = await post(client, key="k-5")
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers


@pytest.mark.parametrize(
    ("headers", "query", "message"),
    [
        ({"Idempotency-Key": ""}, "", "Idempotency-Key must be 1 to 255 printable ASCII characters"),
        ({"Idempotency-Key": "k" * 256}, "", "Idempotency-Key must be 1 to 255 printable ASCII characters"),
        ({"Idempotency-Key": b"caf\xe9"}, "", "Idempotency-Key must be 1 to 255 printable ASCII characters"),
        ({"Idempotency-Key": "tab\there"}, "", "Idempotency-Key must be 1 to 255 printable ASCII characters"),
        ({}, "?delay_ms=-1", "delay_ms must be a non-negative integer"),
        ({}, "?delay_ms=60001", "delay_ms 60001 exceeds max 60000"),
    ],
)
async def test_parameter_limits(
    lab: tuple[httpx.AsyncClient, StateRecorder], headers: dict[str, Any], query: str, message: str
) -> None:
    client, _ = lab
    r = await client.post(
        "/v1/orders" + query, content=json.dumps(ORDER), headers=headers | {"content-type": "application/json"}
    )
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_longest_and_oddest_keys_work(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    for key in ("k" * 255, " spaced key ", "!~{}"):
        assert (await post(client, key=key)).status_code == 201
        assert (await post(client, key=key)).headers["idempotent-replayed"] == "true"


async def test_ids_are_deterministic_across_restarts(overrides: dict[str, Any]) -> None:
    async with recorded_client(overrides) as (client, _):
        first = (await post(client, key="stable")).json()["id"]
    async with recorded_client({}) as (client, _):  # a fresh app and store
        second = (await post(client, key="stable")).json()["id"]
    assert first == second == expected_id("stable", ORDER)


def test_client_leaving_during_the_delay_releases_the_key() -> None:
    recorder = StateRecorder(make_app(groups=["lab"]))
    body = json.dumps(ORDER).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Idempotency-Key": "left"}
    with serve(recorder) as served:
        rid = uuid.uuid4().hex
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(request_bytes("POST", "/v1/orders?delay_ms=5000", headers | {"X-Request-Id": rid}, body))
            time.sleep(0.2)
        state = recorder.state_of(rid)
        with httpx.Client(base_url=served.url, timeout=5) as client:
            retry = client.post("/v1/orders", content=body, headers=headers)
    assert state["error_category"] == "client_disconnected"
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?after_commit=drop", 400, "after_commit must be one of reset, abort, timeout"),
        ("?after_commit=timeout&stall_ms=60001", 400, "stall_ms 60001 exceeds max 60000"),
        (
            "?after_commit=reset",
            501,
            "after_commit=reset needs the client connection, which this server does not expose",
        ),
    ],
)
async def test_after_commit_parameters(
    lab: tuple[httpx.AsyncClient, StateRecorder], query: str, status: int, message: str
) -> None:
    client, _ = lab
    r = await post(client, key="checked-first", query=query)
    assert (r.status_code, r.json()) == (status, {"error": message})
    assert "idempotent-replayed" not in (await post(client, key="checked-first")).headers  # nothing was stored


@pytest.mark.parametrize("kind", ["reset", "abort", "timeout"])
def test_a_lost_response_is_replayed_to_the_retry(kind: str, sqlite_url: str) -> None:
    recorder = StateRecorder(make_app({"database": {"url": sqlite_url}}, groups=["lab"]))
    body = json.dumps(ORDER).encode()
    key = f"lost-{kind}-{uuid.uuid4().hex}"
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Idempotency-Key": key}
    rid = uuid.uuid4().hex
    with serve(recorder, http="httptools", loop="uvloop") as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            target = f"/v1/orders?after_commit={kind}&stall_ms=5000"
            sock.sendall(request_bytes("POST", target, headers | {"X-Request-Id": rid}, body))
            wire = read_until_closed(sock, time.monotonic(), 0.5 if kind == "timeout" else 5)
        state = recorder.state_of(rid)
        with httpx.Client(base_url=served.url, timeout=5) as client:
            retry = client.post("/v1/orders", content=body, headers=headers)
    if kind == "reset":
        assert (wire.data, wire.end) == (b"", "reset")
    elif kind == "abort":
        assert wire.end == "eof" and wire.status == 201
        assert 0 < len(wire.body) < int(wire.header("content-length") or 0)
    else:
        assert (wire.data, wire.end) == (b"", "timeout")
    assert state["audit_details"]["after_commit"] == kind
    assert state["error_category"] == ("client_disconnected" if kind == "timeout" else "fault_injected")
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == state["audit_details"]["order_id"] == expected_id(key, ORDER)
