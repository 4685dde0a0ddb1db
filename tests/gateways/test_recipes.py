"""Every recipe of ``docs/testing-a-gateway.md`` through real nginx, HAProxy and Caddy.

Each test starts the gateway with the doc's snippet for its recipe, drives the recipe through it, reads
the fixture's audit rows, and checks the observation against the doc's result table (``make
gateways-docs`` rewrites the tables from a run instead). Observations are chosen to be deterministic:
counts, statuses, categories, presence of headers, and durations rounded to the second.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.auth.idp import LocalIdP
from tests.gateways import doc
from tests.gateways.conftest import GatewayFactory, Results
from tests.gateways.harness import CLIENT_KEY, KINDS, Audit, Fixture, Gateway
from tests.wire import exchange, request_bytes

pytestmark = pytest.mark.gateways

Start = Callable[[str, str], Gateway]
ORDER: dict[str, Any] = {
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "sku": "ABC-1234",
    "quantity": 2,
    "unit_price": 19.99,
    "currency": "EUR",
}
WINDOWS = itertools.count(random.randint(1000, 3000))  # a fresh /v1/limited counter per test (key: limit/window)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_id() -> str:
    return uuid.uuid4().hex[:16]


def seconds(ms: int) -> str:
    return f"~{round(ms / 1000)} s"


def statuses(rows: list[dict[str, Any]]) -> str:
    return " ".join(str(r["status"]) for r in rows) or "none"


def test_retries(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("retries", kind)
    get_run, post_run = run_id(), run_id()
    got = httpx.get(f"{gw.url}/v1/respond?status=503&run={get_run}", timeout=15)
    posted = httpx.post(f"{gw.url}/v1/respond?status=503&run={post_run}", timeout=15)
    get_rows = audit.settled(q=get_run)
    post_rows = audit.settled(q=post_run)
    assert {r["error_category"] for r in get_rows + post_rows} == {"fault_injected"}
    results.check(
        "retries",
        kind,
        {
            "GET 503: client": str(got.status_code),
            "GET 503: attempts (rows)": str(len(get_rows)),
            "POST 503: client": str(posted.status_code),
            "POST 503: attempts (rows)": str(len(post_rows)),
        },
    )


def spacing(rows: list[dict[str, Any]]) -> str:
    """Attempts and the widest gap between consecutive attempts' timestamps, in coarse buckets: under a
    second is ``~0 s`` (an immediate retry), otherwise the gap rounded to the second."""
    if len(rows) < 2:
        return f"{len(rows)} attempt"
    starts = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    widest = max((b - a).total_seconds() for a, b in itertools.pairwise(starts))
    return f"{len(rows)} attempts, ~{0 if widest < 1 else round(widest)} s apart"


def test_retry_after(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("retries", kind)
    run = run_id()
    r = httpx.get(f"{gw.url}/v1/respond?status=503&header=Retry-After:2&run={run}", timeout=15)
    rows = audit.settled(q=run)
    assert {row["error_category"] for row in rows} == {"fault_injected"}
    results.check(
        "retry-after",
        kind,
        {
            "client": str(r.status_code),
            "Retry-After at the client": r.headers.get("retry-after", "-"),
            "attempts (rows), widest spacing": spacing(rows),
        },
    )


def test_retry_until_success(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("retries", kind)
    key = run_id()
    r = httpx.get(f"{gw.url}/v1/attempts/{key}?fail=2&status=503", timeout=15)
    rows = audit.settled(q=key, route_name="attempts_get")
    assert [row["details"]["attempt"] for row in rows] == list(range(1, len(rows) + 1))
    slow_key = run_id()
    slow = httpx.get(f"{gw.url}/v1/attempts/{slow_key}?fail=1&mode=timeout&delay_ms=3000", timeout=15)
    slow_rows = audit.settled(q=slow_key, route_name="attempts_get")
    results.check(
        "attempts",
        kind,
        {
            "client": str(r.status_code),
            "Apitest-Attempt at the client": r.headers.get("apitest-attempt", "-"),
            "rows (status)": statuses(rows),
            "mode=timeout: client": str(slow.status_code),
            "mode=timeout: rows (status)": statuses(slow_rows),
        },
    )


def post_order(url: str, key: str) -> tuple[str, httpx.Response | None]:
    try:
        r = httpx.post(url, json=ORDER, headers={"Idempotency-Key": key}, timeout=15)
    except httpx.TransportError:
        return "no response", None
    replayed = " (replayed)" if r.headers.get("idempotent-replayed") == "true" else ""
    return f"{r.status_code}{replayed}", r


def test_safe_retry(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("safe-retry", kind)
    run = run_id()
    url = f"{gw.url}/v1/orders?after_commit=reset&run={run}"
    first, answer = post_order(url, run)
    retry = "-"
    if answer is None or answer.status_code != 201:
        retry, answer = post_order(url, run)  # the client retries with its key, as a careful client would
    rows = audit.settled(q=run, route_name="create_order", at_least=2 if retry != "-" else 1)
    assert answer is not None and answer.status_code == 201
    lost = [r for r in rows if r.get("details", {}).get("after_commit") == "reset"]
    assert len(lost) == 1 and answer.json()["id"] == lost[0]["details"]["order_id"]  # one order, the first one
    results.check(
        "safe-retry",
        kind,
        {"client": first, "client retry": retry, "rows (status)": statuses(rows), "orders": "1"},
    )


def test_timeouts(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("timeouts", kind)
    run = run_id()
    r = httpx.get(f"{gw.url}/v1/respond?delay_ms=4000&run={run}", timeout=15)
    rows = audit.settled(q=run)
    results.check(
        "timeouts",
        kind,
        {
            "client": str(r.status_code),
            "rows": str(len(rows)),
            "row": f"{rows[-1]['status']} {rows[-1]['error_category']}",
            "row duration": seconds(rows[-1]["duration_ms"]),
        },
    )


def test_idle_timeout(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("idle-timeout", kind)
    run = run_id()
    lines, end = 0, "clean end"
    try:
        with httpx.stream("GET", f"{gw.url}/v1/streaming/ndjson?count=3&delay_ms=2500&run={run}", timeout=15) as r:
            for _ in r.iter_lines():
                lines += 1
    except (httpx.RemoteProtocolError, httpx.ReadError):
        end = "error (incomplete body)"
    rows = audit.settled(q=run)
    results.check(
        "idle-timeout",
        kind,
        {
            "client": f"{lines} of 3 items, {end}",
            "row": f"{rows[-1]['status']} {rows[-1]['error_category'] or ''}".strip(),
            "row duration": seconds(rows[-1]["duration_ms"]),
        },
    )


def presence(headers: dict[str, list[str]], name: str) -> str:
    return "present" if name.lower() in headers else "absent"


def test_headers(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("headers", kind)
    run = run_id()
    sent = {
        "Host": "gw.example",
        "X-Pass-Me": "1",
        "X-Internal-Secret": "s3cr3t",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "1",
    }
    httpx.get(f"{gw.url}/v1/headers?run={run}", headers=sent, timeout=15).raise_for_status()
    [row] = audit.settled(q=run)
    arrived = {k.lower(): v for k, v in audit.event(row["id"])["payload"]["request_headers"].items()}
    forwarded_host = arrived.get("x-forwarded-host", ["-"])[0]
    back = httpx.get(
        f"{gw.url}/v1/respond?header=X-Upstream-Debug:1&header=X-Powered-By:apitest&run={run}x", timeout=15
    ).headers
    results.check(
        "headers",
        kind,
        {
            "X-Pass-Me": presence(arrived, "x-pass-me"),
            "X-Internal-Secret": presence(arrived, "x-internal-secret"),
            "X-Hop (hop-by-hop)": presence(arrived, "x-hop"),
            "X-Forwarded-For": presence(arrived, "x-forwarded-for"),
            "X-Forwarded-Proto": presence(arrived, "x-forwarded-proto"),
            "X-Forwarded-Host": "client's Host" if forwarded_host == "gw.example" else forwarded_host,
            "Via": presence(arrived, "via"),
            "X-Upstream-Debug at the client": "present" if "x-upstream-debug" in back else "absent",
            "X-Powered-By at the client": "present" if "x-powered-by" in back else "absent",
        },
    )


def test_streaming(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("streaming", kind)
    run = run_id()
    arrivals: list[float] = []
    started = time.monotonic()
    with httpx.stream("GET", f"{gw.url}/v1/streaming/ndjson?count=4&delay_ms=600&run={run}", timeout=15) as r:
        for _ in r.iter_lines():
            arrivals.append(time.monotonic() - started)
    [row] = audit.settled(q=run)
    # Produced 600 ms apart (1.8 s first to last): streamed when the client saw them spread out too.
    spread = arrivals[-1] - arrivals[0]
    results.check(
        "streaming",
        kind,
        {
            "items at the client": "one by one, as produced" if spread >= 1.2 else "all at once (buffered)",
            "row": f"{row['status']}, {row['bytes_out']} bytes out",
        },
    )


FAULTS = ("reset", "empty", "malformed", "truncated", "abort")


def on_the_wire(gw: Gateway, target: str) -> str:
    """What the gateway sent its client, read from the socket: ``no response`` (and how the connection
    ended), the status with ``body cut`` when the body ended early, or bytes that are not HTTP/1.x."""
    wire = exchange(gw.port, request_bytes("GET", target, {"Connection": "close"}), timeout=10)
    if not wire.data:
        return f"no response ({'reset' if wire.end == 'reset' else 'closed'})"
    if not wire.data.startswith(b"HTTP/1."):
        return "the upstream's bytes as HTTP/0.9"
    length = wire.header("content-length")
    if length is not None:
        complete = len(wire.body) >= int(length)
    elif (wire.header("transfer-encoding") or "").lower() == "chunked":
        complete = wire.body.endswith(b"0\r\n\r\n")
    else:
        complete = wire.end == "eof"  # delimited by the close
    return f"{wire.status}" + ("" if complete else ", body cut")


def test_broken_upstreams(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("plain", kind)
    observed: dict[str, str] = {}
    for fault in FAULTS:
        run = run_id()
        seen = on_the_wire(gw, f"/v1/fault/{fault}?run={run}")
        rows = audit.settled(q=run)
        observed[f"/v1/fault/{fault}"] = f"{seen} ({len(rows)} row{'s' if len(rows) != 1 else ''})"
    observed["/v1/crash"] = on_the_wire(gw, "/v1/crash")
    observed["/v1/resources/10000"] = on_the_wire(gw, "/v1/resources/10000")
    results.check("faults", kind, observed)


def test_gateway_rate_limit(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("gateway-rate-limit", kind)
    run = run_id()
    answers = [httpx.get(f"{gw.url}/v1/resources/1?run={run}", timeout=15).status_code for _ in range(6)]
    rows = audit.settled(q=run)
    results.check(
        "gateway-rate-limit", kind, {"6 requests: client": " ".join(map(str, answers)), "rows": str(len(rows))}
    )


def test_upstream_rate_limit(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("plain", kind)
    run, window = run_id(), next(WINDOWS)
    answers = [httpx.get(f"{gw.url}/v1/limited?limit=2&window_s={window}&run={run}", timeout=15) for _ in range(4)]
    rows = audit.settled(q=run, at_least=4)
    refused = answers[-1]
    results.check(
        "upstream-rate-limit",
        kind,
        {
            "4 requests, limit=2: client": " ".join(str(r.status_code) for r in answers),
            "Retry-After and RateLimit-* at the client": "passed"
            if {"retry-after", "ratelimit-remaining", "x-ratelimit-reset"} <= set(refused.headers)
            else "missing",
            "rate_limited rows": str(sum(r["error_category"] == "rate_limited" for r in rows)),
        },
    )


def test_identity_forwarding(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("plain", kind)
    keyed, bad, anonymous = run_id(), run_id(), run_id()
    a = httpx.get(f"{gw.url}/v1/whoami?run={keyed}", headers={"X-API-Key": CLIENT_KEY}, timeout=15)
    b = httpx.get(f"{gw.url}/v1/whoami?run={bad}", headers={"X-API-Key": "not-a-key"}, timeout=15)
    c = httpx.get(f"{gw.url}/v1/scoped/write?run={anonymous}", timeout=15)
    [ra], [rb], [rc] = audit.settled(q=keyed), audit.settled(q=bad), audit.settled(q=anonymous)
    results.check(
        "identity",
        kind,
        {
            "client's key": f"{a.status_code}, upstream saw {ra['auth_type']} {ra['api_key_name']}",
            "an unknown key": f"{b.status_code}, {rb['error_category']}",
            "no key on a scoped route": f"{c.status_code}, {rc['error_category']}",
        },
    )


def test_oidc_relay(
    kind: str, gateway: GatewayFactory, oidc_fixture: Fixture, oidc_audit: Audit, idp: LocalIdP, results: Results
) -> None:
    gw = gateway(kind, doc.snippet("plain", kind), upstream=oidc_fixture.address)
    good, foreign = run_id(), run_id()
    bearer = {"Authorization": f"Bearer {idp.mint(idp.claims(sub='alice'))}"}
    a = httpx.get(f"{gw.url}/v1/whoami?run={good}", headers=bearer, timeout=15)
    wrong_audience = {"Authorization": f"Bearer {idp.mint(idp.claims(aud='another-api'))}"}
    b = httpx.get(f"{gw.url}/v1/whoami?run={foreign}", headers=wrong_audience, timeout=15)
    [ra], [rb] = oidc_audit.wait(q=good), oidc_audit.wait(q=foreign)
    results.check(
        "oidc",
        kind,
        {
            "client's token": f"{a.status_code}, upstream saw {ra['auth_type']} {ra['user_subject']}",
            "a token for another audience": f"{b.status_code}, {rb['error_category']}",
        },
    )


def test_credential_injection(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("credentials", kind)
    with_key, without = run_id(), run_id()
    a = httpx.get(f"{gw.url}/v1/whoami?run={with_key}", headers={"X-API-Key": CLIENT_KEY}, timeout=15)
    b = httpx.get(f"{gw.url}/v1/whoami?run={without}", timeout=15)
    [ra], [rb] = audit.settled(q=with_key), audit.settled(q=without)
    results.check(
        "credentials",
        kind,
        {
            "client with its own key": f"{a.status_code}, upstream saw {ra['auth_type']} {ra['api_key_name']}",
            "client without a key": f"{b.status_code}, upstream saw {rb['auth_type']} {rb['api_key_name']}",
        },
    )


def test_path_prefix(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("prefix", kind)
    observed: dict[str, str] = {}
    for target in ("/api/fixed/a%20b", "/api/fixed/a%2Fb"):
        run = run_id()
        r = httpx.get(f"{gw.url}{target}?run={run}", timeout=15)
        rows = audit.settled(q=run, at_least=0)
        arrived = f"row path {rows[0]['path']}" if rows else "no row (no route matched)"
        observed[target] = f"{r.status_code}, {arrived}"
    results.check("prefix", kind, observed)


def test_caching(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("caching", kind)
    run, missing = run_id(), run_id()
    url = f"{gw.url}/v1/resources/42?max_age=30&run={run}"
    answers = [httpx.get(url, timeout=15) for _ in range(3)]
    conditional = httpx.get(url, headers={"If-None-Match": answers[0].headers["etag"]}, timeout=15)
    rows = audit.settled(q=run, at_least=1)
    errors = [httpx.get(f"{gw.url}/v1/resources/10000?run={missing}", timeout=15) for _ in range(3)]
    error_rows = audit.settled(q=missing, at_least=1)
    assert all(e.status_code == 404 for e in errors)
    no_store = run_id()
    for _ in range(3):
        httpx.get(f"{gw.url}/v1/respond?header=Cache-Control:no-store&body=x&run={no_store}", timeout=15)
    no_store_rows = audit.settled(q=no_store, at_least=1)
    results.check(
        "caching",
        kind,
        {
            "3 GETs: client": " ".join(str(r.status_code) for r in answers),
            "X-Cache-Status": " ".join(r.headers.get("x-cache-status", "-") for r in answers),
            "If-None-Match: client": str(conditional.status_code),
            "rows (all 4)": statuses(rows),
            "3 GETs of a 404: rows": str(len(error_rows)),
            "3 GETs of a no-store answer: rows": str(len(no_store_rows)),
        },
    )


def test_compression(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("compression", kind)
    run = run_id()
    r = httpx.get(f"{gw.url}/v1/lorem?words=300&run={run}", headers={"Accept-Encoding": "gzip"}, timeout=15)
    r.raise_for_status()
    [row] = audit.settled(q=run)
    payload = audit.event(row["id"])["payload"]
    request_headers = {k.lower() for k in payload["request_headers"]}
    response_headers = {k.lower() for k in payload["response_headers"]}
    results.check(
        "compression",
        kind,
        {
            "Content-Encoding at the client": r.headers.get("content-encoding", "none"),
            "Accept-Encoding at the fixture": "present" if "accept-encoding" in request_headers else "absent",
            "fixture's answer": "compressed" if "content-encoding" in response_headers else "identity",
        },
    )


def test_websocket(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("websocket", kind)
    rid = run_id()
    echoed: list[str | bytes] = []
    code: int | str = "-"
    try:
        with connect(
            f"{gw.ws_url}/v1/ws/echo?close_after=2&close_code=4001",
            additional_headers={"X-Request-Id": rid},
            open_timeout=10,
        ) as ws:
            ws.send("hello")
            echoed.append(ws.recv(timeout=10))
            ws.send(b"\x01\x02")
            echoed.append(ws.recv(timeout=10))
            try:
                ws.recv(timeout=10)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "no close frame"
        echo = "text and binary echoed" if echoed == ["hello", b"\x01\x02"] else f"echo broken: {echoed!r}"
    except InvalidStatus as refused:
        echo = f"upgrade refused: {refused.response.status_code}"
    rows = audit.settled(request_id=rid)
    facts = rows[0].get("details", {}).get("websocket", {}) if rows else {}
    try:
        connect(f"{gw.ws_url}/v1/ws/echo", additional_headers={"X-API-Key": "wrong"}, open_timeout=10).close()
        bad_key = "accepted"
    except InvalidStatus as refused:
        bad_key = str(refused.response.status_code)
    results.check(
        "websocket",
        kind,
        {
            "echo": echo,
            "server close code at the client": str(code),
            "row": f"{rows[0]['status']}, {facts.get('messages_in')} in / {facts.get('messages_out')} out, "
            f"closed by {facts.get('closed_by')}"
            if rows
            else "none",
            "bad key: client": bad_key,
        },
    )


def test_cancellation(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("plain", kind)
    run = run_id()
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{gw.url}/v1/slow?ms=4000&run={run}", timeout=1)
    rows = audit.settled(q=run, timeout=10)
    results.check(
        "cancellation",
        kind,
        {
            "row": f"{rows[-1]['status']} {rows[-1]['error_category'] or ''}".strip(),
            "row duration": seconds(rows[-1]["duration_ms"]),
        },
    )


def read_for(gw: Gateway, target: str, seconds: float) -> int:
    """``curl -m SECONDS``: read what arrives for ``seconds`` whatever the gateway buffers, then close the
    connection; the bytes received."""
    received = 0
    deadline = time.monotonic() + seconds
    with socket.create_connection(("127.0.0.1", gw.port), timeout=seconds) as sock:
        sock.sendall(request_bytes("GET", target, {}))
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            received += len(data)
    return received


def test_cancelled_stream(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    """``curl -m 2`` on a 50 s stream: the client leaves after 2 s; when does the fixture's row appear?"""
    gw = recipe_gateway("plain", kind)
    run = run_id()
    received = read_for(gw, f"/v1/streaming/chunked?count=100&delay_ms=500&run={run}", seconds=2.0)
    left = time.monotonic()
    rows = audit.wait(q=run, wait_ms=8000)
    after = time.monotonic() - left
    if not rows:
        written = "not within 8 s (the stream runs 50 s)"
    elif after < 1.5:
        written = "as the client left"
    else:
        written = f"~{round(after)} s after the client left"
    results.check(
        "cancelled-stream",
        kind,
        {
            "client": "left after 2 s, part of the stream received" if received else "left after 2 s, nothing received",
            "row": f"{rows[-1]['status']} {rows[-1]['error_category'] or ''}".strip() if rows else "none",
            "row written": written,
        },
    )


def post_body(gw: Gateway, audit: Audit, size: int) -> str:
    """``POST /v1/validate`` with a ``size``-byte JSON body: the client's status, then the rows it left. The
    fixture refuses without reading the body, then shuts its side and drains what the gateway is still sending
    (apitest/http_guard.py), so the gateway reads the 413 instead of a reset."""
    run = run_id()
    body = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    try:
        r = httpx.post(
            f"{gw.url}/v1/validate?run={run}", content=body, headers={"Content-Type": "application/json"}, timeout=15
        )
        answer = str(r.status_code)
    except httpx.TransportError:
        answer = "no response"
    rows = audit.wait(q=run, wait_ms=2000)
    left = ", ".join(f"{row['status']} {row['error_category']}" for row in rows) or "no row"
    return f"{answer} ({left})"


def test_payload_too_large(kind: str, recipe_gateway: Start, audit: Audit, results: Results) -> None:
    gw = recipe_gateway("plain", kind)
    results.check(
        "payload-too-large",
        kind,
        {
            "48 KiB body: client (rows)": post_body(gw, audit, 48 * 1024),
            "2 MiB body: client (rows)": post_body(gw, audit, 2 * 1024 * 1024),
        },
    )
