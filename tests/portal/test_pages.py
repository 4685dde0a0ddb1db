"""The HTML pages: every page renders, captured text is escaped, security headers are set."""

from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape

from apitest.portal.render import CSP
from tests.portal.conftest import KEY, csrf_token, flush

H = {"X-API-Key": KEY}
PAYLOADS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(2)"]


async def some_traffic(client: httpx.AsyncClient) -> str:
    await client.get("/v1/whoami", headers=H)
    await client.post("/v1/echo?x=1", headers=H, json={"a": 1})
    await flush(client)
    return (await client.get("/api/v1/portal/audit/events", headers=H)).json()["events"][0]["id"]


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/portal/", "Audit pipeline health"),
        ("/portal/?last=24h", "last 24h"),
        ("/portal/audit", "Audit log"),
        ("/portal/audit?status=5xx&method=GET", "status is 5xx"),
        ("/portal/endpoints", "Endpoints"),
        ("/portal/endpoints/whoami", "Try it"),
        ("/portal/keys", "Create a key"),
        ("/portal/config", "Configuration"),
        ("/portal/discovery", "Discovery"),
        ("/portal/about", "Migration"),
    ],
)
async def test_every_page_renders(signed_in: httpx.AsyncClient, path: str, marker: str) -> None:
    await some_traffic(signed_in)
    r = await signed_in.get(path)
    assert r.status_code == 200, r.text
    assert marker in r.text
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text and " style=" not in r.text  # no inline script or inline style


async def test_event_and_compare_pages(signed_in: httpx.AsyncClient) -> None:
    newest = await some_traffic(signed_in)
    events = (await signed_in.get("/api/v1/portal/audit/events")).json()["events"]
    page = await signed_in.get(f"/portal/audit/{newest}")
    assert page.status_code == 200
    assert 'class="redacted"' in page.text  # the X-Api-Key header
    assert 'id="curl"' in page.text and "Replay" in page.text and 'id="edit-resend"' in page.text
    compare = await signed_in.get(f"/portal/audit/compare?a={events[0]['id']}&b={events[1]['id']}")
    assert compare.status_code == 200 and "Compare two requests" in compare.text


async def test_missing_event_page_is_404(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.get("/portal/audit/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "not found" in r.text


async def test_unknown_portal_page_is_an_html_404_and_wrong_method_405(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.get("/portal/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = await signed_in.get("/portal/logout")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


async def test_captured_payloads_are_escaped_everywhere(signed_in: httpx.AsyncClient) -> None:
    for payload in PAYLOADS:
        await signed_in.post(
            "/v1/echo", params={"p": payload}, headers={**H, "X-Evil": payload, "User-Agent": payload}, content=payload
        )
    await flush(signed_in)
    ids = [e["id"] for e in (await signed_in.get("/api/v1/portal/audit/events")).json()["events"]]
    pages = [
        await signed_in.get("/portal/audit"),
        await signed_in.get("/portal/"),
        await signed_in.get("/portal/audit?q=%3Cscript%3E"),
    ]
    pages += [await signed_in.get(f"/portal/audit/{i}") for i in ids]
    pages.append(await signed_in.get(f"/portal/audit/compare?a={ids[0]}&b={ids[1]}"))
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert not re.search(r'href="javascript:', page.text)
    details = pages[3:-1]
    for payload, page in zip(reversed(PAYLOADS), details, strict=True):
        assert str(escape(payload)) in page.text  # shown, as text


async def test_static_assets_are_served_locally(signed_in: httpx.AsyncClient) -> None:
    page = (await signed_in.get("/portal/")).text
    assets = re.findall(r'(?:src|href)="(/portal/static/[^"]+)"', page)
    assert {a.split("?")[0] for a in assets} == {
        "/portal/static/portal.css",
        "/portal/static/portal.js",
        "/portal/static/theme.js",
        "/portal/static/favicon.svg",
    }
    for asset in assets:
        r = await signed_in.get(asset)
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert "http" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", page.split("<body>")[0])


async def test_portal_without_slash_redirects(portal: httpx.AsyncClient) -> None:
    r = await portal.get("/portal")
    assert (r.status_code, r.headers["location"]) == (308, "/portal/")


async def test_browser_root_goes_to_the_portal(portal: httpx.AsyncClient) -> None:
    r = await portal.get("/", headers={"Accept": "text/html"})
    assert (r.status_code, r.headers["location"]) == (302, "/portal/")


async def test_filter_errors_are_shown_not_fatal(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.get("/portal/audit?status=abc&method=GET")
    assert r.status_code == 200
    assert "Ignored: status: use a status code" in r.text
    assert "method is GET" in r.text


async def test_pages_link_to_filtered_exports_and_the_next_page(signed_in: httpx.AsyncClient) -> None:
    for _ in range(3):
        await signed_in.get("/v1/whoami", headers=H)
    await flush(signed_in)
    page = (await signed_in.get("/portal/audit?method=GET&limit=2")).text
    assert 'href="/api/v1/portal/audit/export.csv?method=GET"' in page
    older = re.search(r'id="older" rel="next" href="([^"]+)"', page)
    assert older
    second = await signed_in.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and "Newest" in second.text


async def test_try_it_form_error(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/portal/endpoints/whoami")
    r = await signed_in.post(
        "/portal/endpoints/whoami/try", data={"csrf_token": csrf_token(page.text), "headers": "no colon here"}
    )
    assert r.status_code == 200 and "line 1: expected name:value" in r.text


async def test_a_websocket_session_row_shows_its_counters(signed_in: httpx.AsyncClient) -> None:
    import uuid
    from datetime import UTC, datetime

    from apitest.audit.records import EventRecord

    facts = {"accepted": True, "messages_in": 2, "messages_out": 3, "close_code": 4001, "closed_by": "server"}
    event_id = str(uuid.uuid4())
    record = EventRecord(
        id=event_id,
        ts=datetime.now(UTC),
        method="GET",
        path="/v1/ws/echo",
        status=101,
        success=False,
        route_name="ws_echo",
        endpoint_group="streaming",
        details={"websocket": facts},
    )
    signed_in.app.state.audit.offer(record)  # type: ignore[attr-defined]
    await flush(signed_in)
    page = await signed_in.get(f"/portal/audit/{event_id}")
    assert page.status_code == 200
    assert '<dt class="mono">websocket</dt>' in page.text and '"messages_out": 3' in page.text


async def test_bodies_with_lone_surrogates_and_deep_nesting_render(signed_in: httpx.AsyncClient) -> None:
    for body in (b'{"x":"\\ud800","y":"\\u0000"}', b"[" * 5000 + b"]" * 5000, b'{"a":1e400}'):
        await signed_in.post("/v1/echo", headers={**H, "Content-Type": "application/json"}, content=body)
    await flush(signed_in)
    events = (await signed_in.get("/api/v1/portal/audit/events")).json()["events"]
    for event in events:
        page = await signed_in.get(f"/portal/audit/{event['id']}")
        assert page.status_code == 200, page.text
    compare = await signed_in.get(f"/portal/audit/compare?a={events[0]['id']}&b={events[2]['id']}")
    assert compare.status_code == 200
