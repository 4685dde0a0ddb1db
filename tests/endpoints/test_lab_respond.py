from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from apitest.endpoints.lab_respond import MAX_BODY
from tests.support import make_app
from tests.wire import StateRecorder, recorded_client, request_bytes, serve


@pytest.fixture
async def lab() -> AsyncIterator[tuple[httpx.AsyncClient, StateRecorder]]:
    async with recorded_client() as pair:
        yield pair


TOKEN_65 = "X" * 65


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=199", "status must be an integer in [200, 599]"),
        ("status=600", "status must be an integer in [200, 599]"),
        ("status=abc", "status must be an integer in [200, 599]"),
        ("status=2.5e2", "status must be an integer in [200, 599]"),
        ("status=%20200", "status must be an integer in [200, 599]"),
        ("delay_ms=-1", "delay_ms must be a non-negative integer"),
        ("delay_ms=1_000", "delay_ms must be a non-negative integer"),
        ("delay_ms=60001", "delay_ms 60001 exceeds max 60000"),
        ("header=NoColon", 'header "NoColon" must be Name:Value'),
        ("header=Bad%20Name:x", 'header name "Bad Name" is not a valid token (at most 64 characters)'),
        ("header=:x", 'header name "" is not a valid token (at most 64 characters)'),
        (f"header={TOKEN_65}:x", f'header name "{TOKEN_65[:64]}" is not a valid token (at most 64 characters)'),
        ("header=X-A:a%0Db", 'header "X-A" value must be printable ASCII (no CR, LF or other control characters)'),
        ("header=X-A:a%0Ab", 'header "X-A" value must be printable ASCII (no CR, LF or other control characters)'),
        ("header=X-A:a%00b", 'header "X-A" value must be printable ASCII (no CR, LF or other control characters)'),
        ("header=X-A:caf%C3%A9", 'header "X-A" value must be printable ASCII (no CR, LF or other control characters)'),
        ("header=X-A:" + "v" * 1025, 'header "X-A" value exceeds max 1024 characters'),
        ("header=Content-Type:text/html", "use content_type to set Content-Type"),
        ("header=content-length:5", 'header "content-length" is set by the server and cannot be overridden'),
        (
            "header=Transfer-Encoding:chunked",
            'header "Transfer-Encoding" is set by the server and cannot be overridden',
        ),
        ("header=Connection:close", 'header "Connection" is set by the server and cannot be overridden'),
        ("header=X-Request-Id:forged", 'header "X-Request-Id" is set by the server and cannot be overridden'),
        ("&".join(f"header=X-{i}:v" for i in range(21)), "at most 20 header parameters"),
        ("content_type=not%20a%20type", "content_type must be a media type such as application/json"),
        ("content_type=text/plain%0D%0AX-Evil:1", "content_type must be a media type such as application/json"),
        ("content_type=text/" + "x" * 200, "content_type must be a media type such as application/json"),
        ("body=" + "b" * (MAX_BODY + 1), f"body exceeds max {MAX_BODY} bytes"),
        ("body=" + "%C3%A9" * (MAX_BODY // 2 + 1), f"body exceeds max {MAX_BODY} bytes"),
    ],
)
async def test_parameter_limits(lab: tuple[httpx.AsyncClient, StateRecorder], query: str, message: str) -> None:
    client, recorder = lab
    r = await client.get("/v1/respond?" + query)
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert recorder.states[-1]["error_category"] == "bad_request"
    assert recorder.states[-1]["error_message"] == message


@pytest.mark.parametrize(
    ("query", "status", "content_type", "body"),
    [
        ("", 200, "application/json", b'{"status":200,"message":"OK"}\n'),
        ("status=%2B201", 201, "application/json", b'{"status":201,"message":"Created"}\n'),
        ("status=503", 503, "application/json", b'{"status":503,"message":"Service Unavailable"}\n'),
        ("status=599", 599, "application/json", b'{"status":599,"message":""}\n'),
        ("status=422", 422, "application/json", b'{"status":422,"message":"Unprocessable Entity"}\n'),
        ("body=hello", 200, "text/plain; charset=utf-8", b"hello"),
        ("body=", 200, "text/plain; charset=utf-8", b""),
        ("body=%3Ca%2F%3E&content_type=application/xml", 200, "application/xml", b"<a/>"),
        ("content_type=application/problem%2Bjson&status=400", 400, "application/problem+json", None),
        ("body=caf%C3%A9", 200, "text/plain; charset=utf-8", "café".encode()),
        ("body=" + "b" * MAX_BODY, 200, "text/plain; charset=utf-8", b"b" * MAX_BODY),
    ],
)
async def test_status_body_and_content_type(
    lab: tuple[httpx.AsyncClient, StateRecorder], query: str, status: int, content_type: str, body: bytes | None
) -> None:
    client, _ = lab
    r = await client.get("/v1/respond?" + query)
    assert r.status_code == status
    assert r.headers["content-type"] == content_type
    if body is not None:
        assert r.content == body
    assert r.headers["content-length"] == str(len(r.content))


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses(lab: tuple[httpx.AsyncClient, StateRecorder], status: int) -> None:
    client, _ = lab
    r = await client.get(f"/v1/respond?status={status}&body=ignored&header=X-Kept:yes")
    assert r.status_code == status
    assert r.content == b""
    assert "content-type" not in r.headers
    assert r.headers["x-kept"] == "yes"


async def test_headers_are_added_in_order_and_repeatable(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    query = "header=X-Tag:a=1&header=X-Tag:b=2&header=Retry-After:%20%207%09&header=Cache-Control:no-store"
    r = await client.get("/v1/respond?status=503&" + query)
    assert r.headers.get_list("x-tag") == ["a=1", "b=2"]
    assert r.headers["retry-after"] == "7"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-request-id"]


async def test_header_value_may_contain_colons_and_be_empty(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    r = await client.get("/v1/respond?header=Location:/next?a=b:c&header=X-Empty:")
    assert r.headers["location"] == "/next?a=b:c"
    assert r.headers["x-empty"] == ""


@pytest.mark.parametrize(
    "name", ["Set-Cookie", "set-cookie", "Refresh", "Clear-Site-Data", "Strict-Transport-Security"]
)
async def test_headers_that_act_on_the_browser_are_refused(
    lab: tuple[httpx.AsyncClient, StateRecorder], name: str
) -> None:
    client, _ = lab
    r = await client.get(f"/v1/respond?header={name}:x=1")
    assert r.status_code == 400
    assert r.json()["error"].startswith(f'header "{name}" is not allowed: ')


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "/%09/evil.example".replace("%09", "\t"),
        "javascript:alert(1)",
        "http://allowed.example.evil.example/",
        "ftp://allowed.example/",
    ],
)
async def test_an_off_site_location_is_refused(location: str) -> None:
    async with recorded_client({"lab": {"redirect_hosts": ["allowed.example"]}}) as (client, _):
        r = await client.get("/v1/respond", params={"header": f"Location:{location}"})
    assert r.status_code == 400
    assert "Location" in r.json()["error"]


@pytest.mark.parametrize("location", ["/next", "next/page", "?page=2", "https://allowed.example:8443/x"])
async def test_relative_and_allow_listed_locations_pass(location: str) -> None:
    async with recorded_client({"lab": {"redirect_hosts": ["Allowed.Example"]}}) as (client, _):
        r = await client.get("/v1/respond", params={"status": "302", "header": f"Location:{location}"})
    assert (r.status_code, r.headers["location"]) == (302, location)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_every_method(lab: tuple[httpx.AsyncClient, StateRecorder], method: str) -> None:
    client, _ = lab
    r = await client.request(method, "/v1/respond?status=202&body=ok", content=b"ignored request body")
    assert (r.status_code, r.text) == (202, "ok")


async def test_head_has_headers_only(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    r = await client.head("/v1/respond?status=503&header=Retry-After:1")
    assert (r.status_code, r.content, r.headers["retry-after"]) == (503, b"", "1")


@pytest.mark.parametrize(
    ("status", "category", "message"),
    [
        (200, None, None),
        (399, None, None),
        (400, "fault_injected", "status 400 requested"),
        (503, "fault_injected", "status 503 requested"),
    ],
)
async def test_error_statuses_are_audited_as_injected(
    lab: tuple[httpx.AsyncClient, StateRecorder], status: int, category: str | None, message: str | None
) -> None:
    client, recorder = lab
    await client.get(f"/v1/respond?status={status}")
    state = recorder.states[-1]
    assert (state.get("error_category"), state.get("error_message")) == (category, message)


async def test_delay(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    started = time.monotonic()
    r = await client.get("/v1/respond?delay_ms=250&status=504")
    assert r.status_code == 504
    assert 0.25 <= time.monotonic() - started < 2


def test_client_leaving_during_the_delay_is_audited() -> None:
    """On a real server: the client closes after 100 ms of a 5 s delay; the handler stops at once."""
    recorder = StateRecorder(make_app(groups=["lab"]))
    with serve(recorder) as served:
        rid = uuid.uuid4().hex
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(request_bytes("GET", "/v1/respond?delay_ms=5000", {"X-Request-Id": rid}))
            time.sleep(0.1)
        state = recorder.state_of(rid)
        assert time.monotonic() - started < 2
    assert state["error_category"] == "client_disconnected"
    assert state["error_message"] == "client left during delay_ms=5000"
