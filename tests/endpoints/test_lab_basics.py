from __future__ import annotations

import logging
import os
import platform
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from apitest import __version__
from apitest.endpoints.seeded import item_value
from apitest.version import git_commit
from tests.conftest import ClientFactory
from tests.support import live_server, make_app
from tests.wire import StateRecorder, captured_logs, recorded_client


@pytest.fixture
async def lab() -> AsyncIterator[tuple[httpx.AsyncClient, StateRecorder]]:
    async with recorded_client() as pair:
        yield pair


# --- /v1/resources/{id} -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "rid"), [("0", 0), ("42", 42), ("9999", 9999), ("+5", 5), ("007", 7)])
async def test_resource_in_range(lab: tuple[httpx.AsyncClient, StateRecorder], raw: str, rid: int) -> None:
    client, _ = lab
    r = await client.get(f"/v1/resources/{raw}")
    assert r.status_code == 200
    assert r.json() == {"id": rid, "value": item_value(rid)}
    assert r.headers["etag"] == f'"{item_value(rid)}"'
    assert r.headers["cache-control"] == "public, max-age=60"


async def test_resource_values_match_the_pagination_data_set(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    assert (await client.get("/v1/resources/0")).json()["value"] == "5feceb66ffc86f38"  # sha256("0")[:16]


@pytest.mark.parametrize("raw", ["10000", "-1", "9223372036854775807", "-9223372036854775808"])
async def test_resource_out_of_range_is_404(lab: tuple[httpx.AsyncClient, StateRecorder], raw: str) -> None:
    client, recorder = lab
    r = await client.get(f"/v1/resources/{raw}")
    message = f"resource {int(raw)} not found"
    assert (r.status_code, r.json()) == (404, {"error": message})
    assert "etag" not in r.headers and "cache-control" not in r.headers
    assert (recorder.states[-1]["error_category"], recorder.states[-1]["error_message"]) == ("not_found", message)


@pytest.mark.parametrize("raw", ["x", "1.0", "1e3", "9223372036854775808", "%201", "1_0", "0x10"])
async def test_resource_id_must_be_an_integer(lab: tuple[httpx.AsyncClient, StateRecorder], raw: str) -> None:
    client, recorder = lab
    r = await client.get(f"/v1/resources/{raw}")
    assert (r.status_code, r.json()) == (400, {"error": "id must be an integer"})
    assert recorder.states[-1]["error_category"] == "bad_request"


@pytest.mark.parametrize(
    ("query", "status", "cache_control"),
    [
        ("max_age=0", 200, "public, max-age=0"),
        ("max_age=86400", 200, "public, max-age=86400"),
        ("max_age=-1", 400, None),
        ("max_age=86401", 400, None),
    ],
)
async def test_resource_max_age(
    lab: tuple[httpx.AsyncClient, StateRecorder], query: str, status: int, cache_control: str | None
) -> None:
    client, _ = lab
    r = await client.get(f"/v1/resources/1?{query}")
    assert r.status_code == status
    assert r.headers.get("cache-control") == cache_control


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ('"{etag}"', 304),
        ('W/"{etag}"', 304),
        ('"other", "{etag}"', 304),
        ("*", 304),
        ('"other"', 200),
        ("{etag}", 200),  # unquoted is not the same entity tag
    ],
)
async def test_resource_conditional_get(
    lab: tuple[httpx.AsyncClient, StateRecorder], if_none_match: str, status: int
) -> None:
    client, _ = lab
    etag = item_value(3)
    r = await client.get("/v1/resources/3", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert r.status_code == status
    assert r.headers["etag"] == f'"{etag}"'
    assert (r.content == b"") == (status == 304)


# --- /v1/scoped/{scope} -------------------------------------------------------------------------------

KEYS = {
    "api_keys": {
        "file": [
            {"name": "reader", "key": "reader-key-0123456789", "scopes": ["read", "orders:write"]},
            {"name": "nobody", "key": "nobody-key-0123456789"},
        ]
    }
}


@pytest.mark.parametrize("scope", ["read", "orders:write"])
async def test_scoped_answers_a_caller_holding_the_scope(client_factory: ClientFactory, scope: str) -> None:
    client = await client_factory(KEYS, groups=["lab"])
    r = await client.get(f"/v1/scoped/{scope}", headers={"X-API-Key": "reader-key-0123456789"})
    assert r.status_code == 200
    assert r.json() == {
        "scope": scope,
        "identity": {
            "subject": "reader",
            "auth_type": "apikey",
            "key_name": "reader",
            "scopes": ["read", "orders:write"],
        },
    }


@pytest.mark.parametrize(("key", "scope"), [("reader-key-0123456789", "admin"), ("nobody-key-0123456789", "read")])
async def test_scoped_refuses_a_caller_without_the_scope(client_factory: ClientFactory, key: str, scope: str) -> None:
    client = await client_factory(KEYS, groups=["lab"])
    r = await client.get(f"/v1/scoped/{scope}", headers={"X-API-Key": key})
    assert r.status_code == 403
    assert r.json() == {"error": "insufficient_scope", "required_scope": scope}
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


# --- /v1/limited ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be a positive integer"),
        ("limit=-3", "limit must be a positive integer"),
        ("limit=ten", "limit must be a positive integer"),
        ("limit=10001", "limit 10001 exceeds max 10000"),
        ("window_s=0", "window_s must be a positive integer"),
        ("window_s=1.5", "window_s must be a positive integer"),
        ("window_s=3601", "window_s 3601 exceeds max 3600"),
    ],
)
async def test_limited_parameter_limits(lab: tuple[httpx.AsyncClient, StateRecorder], query: str, message: str) -> None:
    client, recorder = lab
    r = await client.get(f"/v1/limited?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert "ratelimit-limit" not in r.headers
    assert recorder.states[-1]["error_category"] == "bad_request"


async def test_limited_defaults(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    r = await client.get("/v1/limited")
    assert r.json() == {"limit": 10, "window_s": 60, "remaining": 9, "reset": 60}
    assert r.headers["ratelimit-policy"] == "10;w=60"


async def test_limited_is_documented_with_its_429(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    operation = (await client.get("/openapi.json")).json()["paths"]["/v1/limited"]["get"]
    assert set(operation["responses"]) >= {"200", "400", "429"}
    assert {"RateLimit-Limit", "X-RateLimit-Reset", "RateLimit-Policy"} <= set(operation["responses"]["200"]["headers"])
    assert "Retry-After" in operation["responses"]["429"]["headers"]


# --- /v1/crash ------------------------------------------------------------------------------------------


async def test_crash_is_the_internal_error_envelope_with_the_request_id(
    lab: tuple[httpx.AsyncClient, StateRecorder],
) -> None:
    client, recorder = lab
    r = await client.get("/v1/crash", headers={"X-Request-Id": "crash-test-1"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error", "request_id": "crash-test-1"}
    assert r.headers["x-request-id"] == "crash-test-1"
    assert recorder.states[-1]["error_category"] == "internal_error"
    assert recorder.states[-1]["error_message"] == "CrashRequested: crash requested by GET /v1/crash"


async def test_crash_in_debug_mode_carries_type_and_traceback() -> None:
    async with recorded_client({"server": {"debug_errors": True}}) as (client, _):
        r = await client.get("/v1/crash", headers={"X-Request-Id": "crash-test-2"})
    body = r.json()
    assert r.status_code == 500
    assert (body["error"], body["request_id"], body["exception"]) == (
        "internal error",
        "crash-test-2",
        "CrashRequested",
    )
    assert body["traceback"][0] == "Traceback (most recent call last):\n"
    assert body["traceback"][-1] == "apitest.endpoints.lab_basics.CrashRequested: crash requested by GET /v1/crash\n"


def test_crash_on_a_real_server_is_logged_with_the_request_id() -> None:
    """The traceback goes to the log with the request id; uvicorn itself never sees the exception."""
    with (
        live_server(make_app(groups=["lab"])) as server,
        captured_logs("apitest", "uvicorn", "uvicorn.error", level=logging.WARNING) as records,
    ):
        r = httpx.get(server.url + "/v1/crash", headers={"X-Request-Id": "crash-test-3"}, timeout=5)
    assert r.status_code == 500
    assert r.json() == {"error": "internal error", "request_id": "crash-test-3"}
    assert [(rec.name, rec.getMessage()) for rec in records] == [("apitest.errors", "unhandled exception")]
    assert records[0].request_id == "crash-test-3"  # type: ignore[attr-defined]
    exc_info = records[0].exc_info
    assert exc_info is not None and exc_info[0] is not None and exc_info[0].__name__ == "CrashRequested"


# --- /version -------------------------------------------------------------------------------------------


async def test_version(client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APITEST_COMMIT", raising=False)
    monkeypatch.delenv("APITEST_BUILD_DATE", raising=False)
    client = await client_factory(groups=["lab"])
    r = await client.get("/version")
    assert r.status_code == 200
    assert r.json() == {
        "name": "api-test",
        "version": __version__,
        "commit": git_commit(),
        "build_date": "unknown",
        "python": platform.python_version(),
        "database": "none",
        "pid": os.getpid(),
    }
    assert r.headers["cache-control"] == "no-store"


async def test_version_reads_build_stamps_and_backend(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.setenv("APITEST_COMMIT", "abc1234")
    monkeypatch.setenv("APITEST_BUILD_DATE", "2026-11-21T00:00:00Z")
    client = await client_factory({"database": {"url": sqlite_url}}, groups=["identity"])
    body: dict[str, Any] = (await client.get("/version")).json()
    assert (body["commit"], body["build_date"], body["database"]) == ("abc1234", "2026-11-21T00:00:00Z", "sqlite")


async def test_version_needs_no_credential(client_factory: ClientFactory) -> None:
    client = await client_factory(
        {"auth": {"allow_anonymous": False}, "api_keys": {"file": [{"name": "k", "key": "a-long-enough-test-key"}]}},
        groups=["lab"],
    )
    assert (await client.get("/v1/resources/1")).status_code == 401
    assert (await client.get("/version")).status_code == 200


def test_git_commit_of_this_checkout() -> None:
    commit = git_commit()
    assert commit == "unknown" or (len(commit) == 12 and all(c in "0123456789abcdef" for c in commit))
