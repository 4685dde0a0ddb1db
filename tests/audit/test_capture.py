"""Capture: what one request through the /v1 pipeline leaves in its audit record.

The app is the real one (``create_app``) serving a few test routes; its ``app.state.audit`` is a real
writer over the in-memory store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from apitest.app import build_pipeline
from apitest.audit.buffer import AuditWriter
from apitest.audit.capture import AUDIT_DETAILS_KEY
from apitest.audit.records import EventRecord
from apitest.audit.serialize import event_json
from apitest.audit.store_memory import MemoryAuditStore
from apitest.auth.chain import build_chain
from apitest.counters import MemoryCounters
from apitest.http import ParamError, json_response
from apitest.identity import Identity
from apitest.outcome import OUTCOME_KEY, RequestOutcome, identity_of, outcome_of
from apitest.pipeline import RouteDispatch
from apitest.registry import RouteSpec
from tests.audit.conftest import event
from tests.conftest import ClientFactory

API_KEY = "capture-test-key-value"


async def who(request: Request) -> Response:
    return json_response({"event_id": outcome_of(request.scope).audit_event_id, **identity_of(request).whoami()})


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"))


async def ignore(request: Request) -> Response:
    return json_response({"ok": True})


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return json_response({"status": code}, code)


async def crash(request: Request) -> Response:
    raise RuntimeError("boom")


async def bad_param(request: Request) -> Response:
    raise ParamError("n must be a positive integer")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            await asyncio.sleep(0.02)
            yield f"chunk {i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


class Unfinished(Response):
    """Starts a body and returns without its last message, or raises after the headers went out."""

    def __init__(self, *, explode: bool) -> None:
        super().__init__()
        self.explode = explode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        if self.explode:
            raise RuntimeError("exploded mid-body")


async def unfinished(request: Request) -> Response:
    return Unfinished(explode=False)


async def late_crash(request: Request) -> Response:
    return Unfinished(explode=True)


async def detailed(request: Request) -> Response:
    request.scope["state"][AUDIT_DETAILS_KEY] = {
        "attempt": 3,
        "who\x00": "bad\x00text\ud800",
        "long": "x" * 5000,
        "nested": {"close_code": 1000, "by": "client"},
        "list": [1, "two", None],
        "object": object,
    }
    return json_response({"ok": True})


def spec(name: str, method: str, path: str, handler: Any, **kw: Any) -> RouteSpec:
    return RouteSpec(name, method, path, "t", f"test route {name}", handler, **kw)


ROUTES = [
    spec("who", "GET", "/v1/t/who", who),
    spec("echo", "POST", "/v1/t/echo", echo),
    spec("ignore", "POST", "/v1/t/ignore", ignore),
    spec("status", "GET", "/v1/t/status/{code}", status),
    spec("crash", "GET", "/v1/t/crash", crash),
    spec("bad_param", "GET", "/v1/t/bad", bad_param),
    spec("stream", "GET", "/v1/t/stream", stream),
    spec("unfinished", "GET", "/v1/t/unfinished", unfinished),
    spec("late_crash", "GET", "/v1/t/late-crash", late_crash),
    spec("unaudited", "GET", "/v1/t/unaudited", ignore, audited=False),
    spec("detailed", "GET", "/v1/t/detailed", detailed),
]


class Audited:
    def __init__(self, client: httpx.AsyncClient, writer: AuditWriter, store: MemoryAuditStore) -> None:
        self.client = client
        self.writer = writer
        self.store = store

    async def rows(self) -> list[EventRecord]:
        assert await self.writer.flush(within=2.0)
        return sorted(self.store.events.values(), key=lambda r: r.ts)

    async def one(self) -> EventRecord:
        rows = await self.rows()
        assert len(rows) == 1, rows
        return rows[0]


AuditedFactory = Callable[..., Awaitable[Audited]]


@pytest.fixture
async def audited(client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AuditedFactory]:
    writers: list[AuditWriter] = []

    async def factory(overrides: dict[str, Any] | None = None, *, routes: list[RouteSpec] = ROUTES) -> Audited:
        monkeypatch.setattr("apitest.app.enabled_routes", lambda groups: list(routes))
        store = MemoryAuditStore()
        writer = AuditWriter(store, flush_interval=0.0)
        writers.append(writer)
        client = await client_factory(overrides, audit_writer=writer)
        return Audited(client, writer, store)

    yield factory
    for writer in writers:
        await writer.close(within=1.0)


KEYED = {"api_keys": {"file": [{"name": "capkey", "key": API_KEY}]}}


async def test_every_event_field(audited: AuditedFactory) -> None:
    a = await audited(KEYED)
    before = datetime.now(UTC)
    r = await a.client.get(
        "/v1/t/who?page=2&api_key=ignored&tokens_count=3",
        headers={
            "X-API-Key": API_KEY,
            "Cookie": "sid=abc",
            "X-Csrf-Token": "t",
            "User-Agent": "gateway-test/1.0",
            "X-Request-Id": "req-every-field",
            "X-Forwarded-For": "10.0.0.1",
        },
    )
    after = datetime.now(UTC)
    assert r.status_code == 200
    body = r.json()
    row = await a.one()
    assert row.id == body["event_id"]
    assert before <= row.ts <= after
    assert 0 <= row.duration_ms < 1000
    assert (row.method, row.path, row.route_name, row.endpoint_group) == ("GET", "/v1/t/who", "who", "t")
    assert (row.status, row.success, row.error_category, row.error_message) == (200, True, None, None)
    assert row.request_id == "req-every-field" == r.headers["x-request-id"]
    assert row.auth_type == body["auth_type"]
    assert row.user_subject == (body["subject"] or None)
    assert row.api_key_name == body.get("key_name")
    assert (row.bytes_in, row.bytes_out) == (0, len(r.content))
    assert row.remote_addr == "127.0.0.1:123"  # httpx's ASGI transport peer; X-Forwarded-For is not parsed
    assert (row.user_agent, row.source, row.session_id) == ("gateway-test/1.0", "wire", None)
    p = row.payload
    assert p is not None
    assert p.request_headers is not None and "Host" not in p.request_headers
    assert p.request_headers["X-Api-Key"] == ["[redacted]"]
    assert p.request_headers["Cookie"] == ["[redacted]"]
    assert p.request_headers["X-Csrf-Token"] == ["[redacted]"]
    assert p.request_headers["X-Forwarded-For"] == ["10.0.0.1"]
    assert p.request_headers["User-Agent"] == ["gateway-test/1.0"]
    assert list(p.request_headers) == sorted(p.request_headers)
    assert p.request_query == {"api_key": ["[redacted]"], "page": ["2"], "tokens_count": ["[redacted]"]}
    assert p.request_body is None and (p.request_size_bytes, p.request_truncated) == (0, False)
    assert p.request_remote_addr == "127.0.0.1:123"
    assert p.response_headers is not None
    assert p.response_headers["Content-Type"] == ["application/json"]
    assert p.response_headers["Content-Length"] == [str(len(r.content))]
    assert p.response_content_type == "application/json"
    assert p.response_body == r.content
    assert (p.response_size_bytes, p.response_truncated, p.replayed_from) == (len(r.content), False, None)


async def test_bodies_are_teed_up_to_the_cap_with_true_sizes(audited: AuditedFactory) -> None:
    a = await audited({"audit": {"max_payload_bytes": 4}})
    r = await a.client.post("/v1/t/echo", content=b"0123456789", headers={"Content-Type": "text/plain"})
    assert r.content == b"0123456789"  # the handler saw the whole body, the client got the whole response
    row = await a.one()
    p = row.payload
    assert p is not None
    assert (row.bytes_in, row.bytes_out) == (10, 10)
    assert (p.request_body, p.request_size_bytes, p.request_truncated) == (b"0123", 10, True)
    assert (p.response_body, p.response_size_bytes, p.response_truncated) == (b"0123", 10, True)
    assert p.request_content_type == "text/plain"


async def test_a_body_exactly_at_the_cap_is_not_truncated(audited: AuditedFactory) -> None:
    a = await audited({"audit": {"max_payload_bytes": 10}})
    await a.client.post("/v1/t/echo", content=b"0123456789")
    p = (await a.one()).payload
    assert p is not None and (p.request_body, p.request_truncated, p.response_truncated) == (
        b"0123456789",
        False,
        False,
    )


async def test_head_records_the_get_route_and_no_body(audited: AuditedFactory) -> None:
    a = await audited()
    r = await a.client.head("/v1/t/who")
    assert (r.status_code, r.content) == (200, b"")
    row = await a.one()
    assert (row.method, row.route_name, row.status, row.success, row.bytes_out) == ("HEAD", "who", 200, True, 0)
    assert row.payload is not None and row.payload.response_body is None
    assert row.payload.response_headers is not None and "Content-Length" in row.payload.response_headers


async def test_an_unread_request_body_is_not_captured(audited: AuditedFactory) -> None:
    a = await audited()
    await a.client.post("/v1/t/ignore", content=b"never read")
    row = await a.one()
    # bytes_in is what the client sent (its Content-Length), though the handler never read it
    assert row.bytes_in == 10 and row.payload is not None and row.payload.request_body is None
    assert row.payload.request_size_bytes == 0


@pytest.mark.parametrize(
    ("audit", "has_payload", "has_headers"),
    [({"capture_payloads": False}, False, False), ({"capture_headers": False}, True, False), ({}, True, True)],
)
async def test_capture_switches(
    audited: AuditedFactory, audit: dict[str, Any], has_payload: bool, has_headers: bool
) -> None:
    a = await audited({"audit": audit})
    await a.client.post("/v1/t/echo?x=1", content=b"hello")
    row = await a.one()
    assert (row.bytes_in, row.bytes_out) == (5, 5)  # counted either way
    assert (row.payload is not None) == has_payload
    if row.payload is not None:
        assert row.payload.request_body == b"hello" and row.payload.response_body == b"hello"
        assert (row.payload.request_headers is not None) == has_headers
        assert (row.payload.request_query is not None) == has_headers
        assert (row.payload.response_headers is not None) == has_headers


async def test_binary_bodies_are_base64_in_json(audited: AuditedFactory) -> None:
    a = await audited()
    data = bytes(range(256))
    await a.client.post("/v1/t/echo", content=data, headers={"Content-Type": "application/octet-stream"})
    out = event_json(await a.one())
    payload = out["payload"]
    assert payload["request_body_encoding"] == "base64" == payload["response_body_encoding"]
    assert base64.b64decode(payload["request_body"]) == data


@pytest.mark.parametrize(
    ("path", "status", "category", "message"),
    [
        ("/v1/t/status/503", 503, "server_error", "handler answered 503"),
        ("/v1/t/status/502", 502, "server_error", "handler answered 502"),
        ("/v1/t/crash", 500, "internal_error", "RuntimeError: boom"),
        ("/v1/t/bad", 400, "bad_request", "n must be a positive integer"),
        ("/v1/t/status/404", 404, "not_found", None),
        ("/v1/t/status/429", 429, "rate_limited", None),
        ("/v1/t/status/418", 418, None, None),
        ("/v1/t/status/302", 302, None, None),
    ],
)
async def test_failures_are_categorised(
    audited: AuditedFactory, path: str, status: int, category: str | None, message: str | None
) -> None:
    a = await audited()
    assert (await a.client.get(path)).status_code == status
    row = await a.one()
    assert (row.status, row.success, row.error_category, row.error_message) == (
        status,
        status < 400,
        category,
        message,
    )


async def test_an_exception_after_the_headers_is_recorded_and_reraised(audited: AuditedFactory) -> None:
    a = await audited()
    with contextlib.suppress(httpx.HTTPError):
        await a.client.get("/v1/t/late-crash")
    row = await a.one()
    assert (row.status, row.success, row.error_category) == (200, False, "internal_error")
    assert row.error_message == "RuntimeError: exploded mid-body"


async def test_streams_are_recorded_when_they_end(audited: AuditedFactory) -> None:
    a = await audited()
    r = await a.client.get("/v1/t/stream")
    assert r.text == "chunk 0\nchunk 1\nchunk 2\n"
    row = await a.one()
    assert row.duration_ms >= 50 and row.success
    assert row.payload is not None and row.payload.response_body == r.content
    assert row.payload.response_content_type == "text/plain; charset=utf-8"


async def test_unaudited_routes_leave_no_row(audited: AuditedFactory) -> None:
    a = await audited()
    assert (await a.client.get("/v1/t/unaudited")).status_code == 200
    assert await a.rows() == []


async def test_without_a_writer_there_is_no_audit_stage(client_factory: ClientFactory) -> None:
    client = await client_factory()
    assert client.app.state.audit is None  # type: ignore[attr-defined]
    r = await client.get("/v1/whoami")
    assert r.status_code == 200 and "apitest-event-id" not in r.headers


@pytest.mark.parametrize("include_rejected", [True, False])
async def test_rejected_requests(audited: AuditedFactory, include_rejected: bool) -> None:
    a = await audited({"auth": {"allow_anonymous": False}, "audit": {"include_rejected": include_rejected}, **KEYED})
    r = await a.client.get("/v1/t/who", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401
    rows = await a.rows()
    if not include_rejected:
        assert rows == []
        return
    [row] = rows
    # A Basic Authorization header is no credential (as in the original): a missing credential, noted as ignored.
    assert (row.status, row.success, row.error_category) == (401, False, "missing_credential")
    assert row.error_message and "dXNlcjpwYXNz" not in row.error_message
    assert row.details == {"authorization_ignored": "Basic"}
    assert row.auth_type is None and row.user_subject is None
    assert row.route_name == "who"
    assert row.payload is not None and row.payload.request_headers is not None
    assert row.payload.request_headers["Authorization"] == ["[redacted]"]
    assert row.payload.response_headers is not None and "Www-Authenticate" in row.payload.response_headers


async def test_a_nul_in_path_or_query_becomes_storable(audited: AuditedFactory) -> None:
    a = await audited()
    await a.client.get("/v1/t/who?a%00b=c%00d")
    row = await a.one()
    assert row.payload is not None and row.payload.request_query == {"a\\x00b": ["c\\x00d"]}


class HangingStore(MemoryAuditStore):
    async def append_many(self, records: list[EventRecord]) -> None:
        await asyncio.sleep(3600)


async def test_requests_never_wait_for_the_database(client_factory: ClientFactory) -> None:
    writer = AuditWriter(HangingStore(), buffer_size=5, flush_interval=0.0, write_timeout=3600)
    client = await client_factory(audit_writer=writer)
    started = time.monotonic()
    for _ in range(20):
        assert (await client.get("/v1/whoami")).status_code == 200
    assert time.monotonic() - started < 2.0
    # five wait in the buffer (plus at most one batch stuck in the store); the rest were dropped and counted
    assert writer.stats.accepted_total + writer.stats.dropped_total == 20
    assert writer.stats.accepted_total in (5, 6)
    await writer.close(within=0.1)


@pytest.mark.parametrize(
    ("state", "source", "replayed_from"),
    [
        ({"dispatch_source": "tryit"}, "tryit", None),
        (
            {"dispatch_source": "replay", "replayed_from": "3f0e9b0c-0000-4000-8000-000000000001"},
            "replay",
            "3f0e9b0c-0000-4000-8000-000000000001",
        ),
        ({"dispatch_source": "bogus"}, "wire", None),
        ({}, "wire", None),
    ],
)
async def test_portal_dispatch_source_and_replay_link_come_from_the_request_outcome(
    audited: AuditedFactory, state: dict[str, str], source: str, replayed_from: str | None
) -> None:
    a = await audited()
    original = event(id="3f0e9b0c-0000-4000-8000-000000000001")
    await a.store.append_many([original])
    services = a.client.app.state.services  # type: ignore[attr-defined]
    pipeline = build_pipeline(
        services.settings, chain=build_chain(services.settings), counters=MemoryCounters(), writer=a.writer
    )
    dispatch = RouteDispatch({"GET": ROUTES[0]}, pipeline)
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/v1/t/who",
        "raw_path": b"/v1/t/who",
        "query_string": b"",
        "headers": [(b"x-plexara-try-it", b"true")],
        "client": None,
        "state": {},
        OUTCOME_KEY: RequestOutcome(request_id="portal-req", **state),  # type: ignore[arg-type]
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await dispatch(scope, receive, send)
    [row] = [r for r in await a.rows() if r.id != original.id]
    assert row.id == outcome_of(scope).audit_event_id  # the portal reads the id of the row it caused
    assert (row.source, row.request_id, row.remote_addr) == (source, "portal-req", None)
    assert row.payload is not None and row.payload.replayed_from == replayed_from
    assert row.payload.request_headers == {"X-Plexara-Try-It": ["true"]}


async def test_route_details_are_recorded_storable_and_bounded(audited: AuditedFactory) -> None:
    a = await audited()
    assert (await a.client.get("/v1/t/detailed")).status_code == 200
    row = await a.one()
    assert row.details is not None
    assert row.details["attempt"] == 3
    assert row.details["nested"] == {"close_code": 1000, "by": "client"}
    assert row.details["list"] == [1, "two", None]
    assert "\x00" not in "".join(row.details) and "who\\x00" in row.details
    assert row.details["who\\x00"] == "bad\\x00text\\ud800"
    assert len(row.details["long"]) == 2000
    assert row.details["object"] == str(object)
    assert event_json(row)["details"] == row.details


async def test_no_details_means_none(audited: AuditedFactory) -> None:
    a = await audited()
    await a.client.post("/v1/t/ignore")
    row = await a.one()
    assert row.details is None and "details" not in event_json(row)


async def test_request_headers_and_query_are_capped_and_flagged(audited: AuditedFactory) -> None:
    a = await audited({"audit": {"max_header_bytes": 2000}})
    headers = {f"X-Big-{i}": "v" * 500 for i in range(10)}
    await a.client.get("/v1/t/who?" + "q=" + "z" * 3000, headers=headers)
    row = await a.one()
    assert row.payload is not None and row.payload.request_headers is not None
    kept = sum(len(k) + sum(len(v) for v in vs) for k, vs in row.payload.request_headers.items())
    assert kept <= 2000
    assert row.details == {
        "request_headers_truncated": True,
        "request_query_truncated": True,
        "header_list_truncated": True,  # the wire header list obeys the same cap
    }
    assert row.payload.request_query is not None and len(row.payload.request_query["q"][0]) < 2000


async def test_rejected_requests_keep_their_row_with_small_payloads(audited: AuditedFactory) -> None:
    a = await audited({"auth": {"allow_anonymous": False}, "audit": {"rejected_payload_bytes": 300}, **KEYED})
    big = {f"X-Junk-{i}": "j" * 200 for i in range(20)}
    r = await a.client.post("/v1/t/echo", headers={**big, "X-API-Key": "wrong"}, content=b"b" * 5000)
    assert r.status_code == 401
    row = await a.one()
    assert (row.status, row.error_category) == (401, "invalid_credential")
    assert row.payload is not None and row.payload.request_headers is not None
    assert sum(len(v[0]) for v in row.payload.request_headers.values()) <= 300
    assert row.details is not None and row.details["request_headers_truncated"] is True
    assert row.payload.request_body is None or len(row.payload.request_body) <= 300
    assert row.payload.response_body is not None and len(row.payload.response_body) <= 300
    # an accepted request with the same headers keeps up to audit.max_header_bytes
    await a.client.post("/v1/t/echo", headers={**big, "X-API-Key": API_KEY}, content=b"b" * 5000)
    accepted = [r for r in await a.rows() if r.status == 200][0]
    assert accepted.payload is not None and accepted.payload.request_body == b"b" * 5000
    assert accepted.details is None


async def hostile(request: Request) -> Response:
    """A route that leaves an identity with unstorable and oversized fields, as a hostile IdP could sign."""
    outcome_of(request.scope).identity = Identity(
        subject="s\x00" + "x" * 1000, auth_type="oidc", key_name="k\ud800", email="e\udfff@x"
    )
    outcome_of(request.scope).error_message = "alg 'X\ud800'"
    return json_response({"ok": True})


async def test_unstorable_identity_and_long_paths_are_stored_bounded_and_flagged(audited: AuditedFactory) -> None:
    a = await audited(routes=[spec("hostile", "GET", "/v1/t/hostile/{rest:path}", hostile)])
    await a.client.get("/v1/t/hostile/" + "p" * 3000 + "%00")
    row = await a.one()
    assert len(row.path.encode()) <= 2048 and row.path.startswith("/v1/t/hostile/ppp")
    assert row.user_subject is not None and row.user_subject.startswith("s\\x00xxx")
    assert len(row.user_subject.encode()) <= 512
    assert (row.api_key_name, row.user_email) == ("k\\ud800", "e\\udfff@x")
    assert row.error_message == "alg 'X\\ud800'"
    assert row.details == {"path_truncated": True, "user_subject_truncated": True}
