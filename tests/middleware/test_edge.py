"""The edge writes some answers itself (421, 204 preflight, 413, 500, a router miss): each passes the one
``send`` wrapper like any handler's response, so it is observed, carries the request id and is sandboxed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from apitest.http_guard import VALIDATED_TAIL, valid_header
from apitest.middleware.edge import Edge
from apitest.middleware.isolation import FIXTURE_HEADERS
from apitest.outcome import OUTCOME_KEY, RequestOutcome

CSP = dict(FIXTURE_HEADERS)[b"content-security-policy"].decode()


async def handler_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/crash":
        raise RuntimeError("boom")
    if path == "/miss":
        raise HTTPException(404, "no such thing")
    if path == "/upload":
        while (await receive()).get("more_body"):
            pass
    if path == "/late":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the start")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Recording:
    """The edge, keeping each request's outcome for the test to read."""

    def __init__(self) -> None:
        self.edge = Edge(app, allowed_hosts=["good.example"], max_body_bytes=8, http_error=handler_error)
        self.outcomes: list[RequestOutcome] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.edge(scope, receive, send)
        finally:
            self.outcomes.append(scope[OUTCOME_KEY])


async def call_raw(
    recording: Recording, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> list[dict[str, Any]]:
    """One request straight through the edge (raw headers, no HTTP client); the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
    await recording(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/portal/", {"Host": "evil.example"}, b"", 421),
        ("OPTIONS", "/v1/x", {"Origin": "http://a", "Access-Control-Request-Method": "GET"}, b"", 204),
        ("POST", "/upload", {}, b"x" * 20, 413),
        ("GET", "/crash", {}, b"", 500),
        ("GET", "/miss", {}, b"", 404),
        ("GET", "/v1/x", {}, b"", 200),
    ],
)
async def test_every_answer_is_observed_identified_and_sandboxed(
    method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    recording = Recording()
    transport = httpx.ASGITransport(app=recording)
    async with httpx.AsyncClient(transport=transport, base_url="http://good.example") as client:
        r = await client.request(method, path, headers=headers, content=body)
    assert r.status_code == status
    assert uuid.UUID(r.headers["x-request-id"]).version == 4
    assert r.headers.get_list("content-security-policy") == [CSP]
    assert r.headers["x-content-type-options"] == "nosniff"
    outcome = recording.outcomes[-1]
    assert (outcome.status, outcome.bytes_out) == (status, len(r.content))
    assert outcome.request_id == r.headers["x-request-id"]


async def test_an_exception_after_the_start_reaches_the_server() -> None:
    recording = Recording()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/late", "headers": [], "query_string": b""}
    with pytest.raises(RuntimeError, match="after the start"):
        await recording(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert recording.outcomes[-1].status == 200


async def test_the_lifespan_passes_through() -> None:
    calls: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["type"])

    await Edge(inner)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert calls == ["lifespan"]


@pytest.mark.parametrize(("declared", "status"), [(b"9" * 5000, 413), ("\u00b2".encode("latin-1"), 200)])
async def test_a_hostile_content_length_is_no_500(declared: bytes, status: int) -> None:
    """Thousands of digits: over the limit (413). A Latin-1 superscript digit is no length at all: the body
    is counted as it arrives (200 for one byte)."""
    sent = await call_raw(Recording(), "POST", "/upload", [(b"content-length", declared)], b"x")
    assert sent[0]["status"] == status


async def test_the_first_host_header_decides_as_it_did_before_the_edge() -> None:
    """An empty first Host and an allowed second one: the first decides (421), as the isolation stage read it."""
    headers = [(b"host", b""), (b"host", b"good.example"), (b"x-request-id", b""), (b"x-request-id", b"second")]
    sent = await call_raw(Recording(), "GET", "/portal/", headers)
    assert sent[0]["status"] == 421
    assert dict(sent[0]["headers"])[b"x-request-id"] != b"second"  # the empty first id is replaced, not skipped


async def test_the_edge_marks_only_the_headers_it_checked() -> None:
    """The tail of the start message the server need not check again: the edge's own headers and nothing else.
    With a list of origins the CORS headers of the request's origin come last, so nothing is marked, and a mark
    an application set on its own message is taken away."""

    async def marking(scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"v")], VALIDATED_TAIL: 9}
        await send(start)
        await send({"type": "http.response.body", "body": b""})

    for origins, origin in ((["*"], None), (["https://a.example"], b"https://a.example")):
        recording = Recording()
        recording.edge = Edge(marking, allowed_origins=origins)
        headers = [(b"host", b"h")] + ([(b"origin", origin)] if origin else [])
        start = (await call_raw(recording, "GET", "/v1/x", headers))[0]
        if origin is None:
            tail = start[VALIDATED_TAIL]
            assert start["headers"][0] == (b"x-app", b"v") and tail == len(start["headers"]) - 1
            assert all(valid_header(n, v) for n, v in start["headers"][-tail:])
        else:
            assert VALIDATED_TAIL not in start
            assert (b"access-control-allow-origin", origin) in start["headers"]
