"""Replay and Try-It run through the whole /v1 stack and are audited; credentials are never replayed."""

from __future__ import annotations

import json

import httpx
import pytest

from apitest.portal.dispatch import replay_request, try_it_headers
from tests.portal.conftest import KEY, csrf_token, flush

H = {"X-API-Key": KEY}


def test_replay_request_drops_credentials_and_markers() -> None:
    out = replay_request(
        "POST",
        "/v1/echo",
        {"api_key": ["[redacted]"], "token": ["[redacted]"], "a": ["1", "2"], "key": ["x"]},
        {
            "Authorization": ["[redacted]"],
            "X-Api-Key": ["[redacted]"],
            "X-Custom-Key": ["[redacted]"],
            "Cookie": ["[redacted]"],
            "Host": ["example"],
            "Content-Length": ["3"],
            "X-Request-Id": ["old"],
            "X-Plexara-Try-It": ["true"],
            "Accept": ["application/json"],
        },
        b"abc",
        "text/plain",
        event_id="e1",
        key_header="X-Custom-Key",
        key_param="key",
    )
    assert out.query == [("a", "1"), ("a", "2")]
    assert out.headers == [
        ("Accept", "application/json"),
        ("Content-Type", "text/plain"),
        ("X-Plexara-Replay-From", "e1"),
    ]
    assert out.body == b"abc"


def test_try_it_headers_drop_cookie_and_authorization_but_keep_a_key() -> None:
    out = try_it_headers(
        [("Cookie", "a=b"), ("authorization", "Bearer x"), ("X-API-Key", "k"), ("X-Plexara-Try-It", "no")]
    )
    assert out == [("X-API-Key", "k"), ("User-Agent", "apitest-portal (Try-It)"), ("X-Plexara-Try-It", "true")]
    assert try_it_headers([("User-Agent", "mine")]) == [("User-Agent", "mine"), ("X-Plexara-Try-It", "true")]


async def test_replay_records_a_new_linked_row(portal: httpx.AsyncClient) -> None:
    await portal.post("/v1/echo?n=1", headers={**H, "X-Trace": "t1"}, content=b'{"a":1}')
    await flush(portal)
    original = (await portal.get("/api/v1/portal/audit/events", headers=H)).json()["events"][0]
    r = await portal.post(f"/api/v1/portal/audit/replay/{original['id']}", headers=H)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["replayed_from"] == original["id"]
    assert body["status"] == 200
    assert body["dispatched_to"] == "/v1/echo?n=1"
    echoed = json.loads(body["body"])
    assert echoed["headers"]["X-Trace"] == ["t1"]
    assert "X-Api-Key" not in echoed["headers"]
    assert echoed["headers"]["X-Plexara-Replay-From"] == [original["id"]]
    new = (await portal.get(f"/api/v1/portal/audit/events/{body['event_id']}", headers=H)).json()
    assert new["source"] == "replay"
    assert new["payload"]["replayed_from"] == original["id"]
    assert new["auth_type"] == "apikey" and new["user_subject"] == "tester"  # ran as the portal identity
    detail = (await portal.get(f"/api/v1/portal/audit/events/{original['id']}", headers=H)).json()
    assert [e["id"] for e in detail["replays"]] == [body["event_id"]]
    again = await portal.post(f"/api/v1/portal/audit/replay/{body['event_id']}", headers=H)
    assert again.status_code == 400
    assert "itself a replay" in again.json()["error"]


@pytest.mark.parametrize(
    ("event_id", "status"),
    [("not-a-uuid", 400), ("00000000-0000-4000-8000-000000000000", 404)],
)
async def test_replay_refusals(portal: httpx.AsyncClient, event_id: str, status: int) -> None:
    assert (await portal.post(f"/api/v1/portal/audit/replay/{event_id}", headers=H)).status_code == status


async def test_replay_without_payload_is_refused(client_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.portal.conftest import portal_overrides

    client = await client_factory(portal_overrides(tmp_path, {"audit": {"capture_payloads": False}}))
    await client.get("/v1/whoami", headers=H)
    await flush(client)
    event = (await client.get("/api/v1/portal/audit/events", headers=H)).json()["events"][0]
    r = await client.post(f"/api/v1/portal/audit/replay/{event['id']}", headers=H)
    assert r.status_code == 503


async def test_try_it_is_audited_and_marked(portal: httpx.AsyncClient) -> None:
    request = {"query_params": {"q": ["1"]}, "headers": {"X-Note": ["n"], "Cookie": ["c=1"]}}
    r = await portal.post("/api/v1/portal/tryit/identity/headers", headers=H, json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dispatched_to"] == "/v1/headers?q=1"
    headers = json.loads(body["body"])["headers"]
    assert headers["X-Plexara-Try-It"] == ["true"] and headers["X-Note"] == ["n"] and "Cookie" not in headers
    row = (await portal.get(f"/api/v1/portal/audit/events/{body['event_id']}", headers=H)).json()
    assert row["source"] == "tryit" and row["user_subject"] == "tester"


async def test_try_it_with_a_key_header_tests_as_that_key(portal: httpx.AsyncClient) -> None:
    r = await portal.post("/api/v1/portal/tryit/identity/whoami", headers=H, json={"headers": {"X-API-Key": ["wrong"]}})
    assert r.json()["status"] == 401


@pytest.mark.parametrize(
    ("path", "request_body", "status", "error"),
    [
        ("/api/v1/portal/tryit/identity/nope", {}, 404, "endpoint identity/nope not registered"),
        ("/api/v1/portal/tryit/identity/whoami", "[", 400, "invalid JSON body"),
        ("/api/v1/portal/tryit/failure/status", {"path_params": {}}, 400, "missing or invalid path params: code"),
        (
            "/api/v1/portal/tryit/failure/status",
            {"path_params": {"code": "a/b"}},
            400,
            "missing or invalid path params: code",
        ),
    ],
)
async def test_try_it_errors(
    portal: httpx.AsyncClient, path: str, request_body: object, status: int, error: str
) -> None:
    content = request_body if isinstance(request_body, str) else json.dumps(request_body)
    r = await portal.post(path, headers={**H, "Content-Type": "application/json"}, content=content)
    assert (r.status_code, r.json()) == (status, {"error": error})


async def test_try_it_fills_path_parameters(portal: httpx.AsyncClient) -> None:
    r = await portal.post("/api/v1/portal/tryit/failure/status", headers=H, json={"path_params": {"code": "418"}})
    assert r.json()["status"] == 418 and r.json()["dispatched_to"] == "/v1/status/418"


async def test_try_it_decodes_path_parameters_before_dispatch(portal: httpx.AsyncClient) -> None:
    r = await portal.post("/api/v1/portal/tryit/data/fixed", headers=H, json={"path_params": {"key": "my key%41"}})
    body = r.json()
    assert json.loads(body["body"])["key"] == "my key%41"  # as the original: the route sees the decoded value
    assert body["dispatched_to"] == "/v1/fixed/my%20key%2541"


async def test_page_replay_redirects_to_the_new_row(signed_in: httpx.AsyncClient) -> None:
    await signed_in.get("/v1/whoami", headers=H)
    await flush(signed_in)
    event = (await signed_in.get("/api/v1/portal/audit/events")).json()["events"][0]
    page = await signed_in.get(f"/portal/audit/{event['id']}")
    r = await signed_in.post(f"/portal/audit/{event['id']}/replay", data={"csrf_token": csrf_token(page.text)})
    assert r.status_code == 303
    assert r.headers["location"].endswith(f"?replayed_from={event['id']}")
    new = await signed_in.get(r.headers["location"])
    assert new.status_code == 200
    assert "This is the replay of" in new.text


async def test_page_try_it_shows_the_response_and_links_the_row(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/portal/endpoints/status")
    form = {"csrf_token": csrf_token(page.text), "method": "GET", "path.code": "503", "query": "", "headers": "X-A: b"}
    r = await signed_in.post("/portal/endpoints/status/try", data=form)
    assert r.status_code == 303  # POST-redirect-GET: reloading the result sends nothing
    assert r.headers["location"].startswith("/portal/endpoints/status?result=")
    shown = await signed_in.get(r.headers["location"])
    assert shown.status_code == 200
    assert 'id="try-event"' in shown.text and "/v1/status/503" in shown.text
    assert 'value="503"' in shown.text and "X-A: b" in shown.text  # the form shows what was sent
