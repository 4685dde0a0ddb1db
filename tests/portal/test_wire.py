"""The wire section of the event page, the raw_target and fp filters, and the wire fields in the exports."""

from __future__ import annotations

import csv
import io
import json

import httpx

from apitest.portal.wire import chunk_timeline, fingerprints
from tests.portal.conftest import KEY, flush

H = {"X-API-Key": KEY}


async def test_event_page_shows_the_request_as_it_arrived(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.get("/v1/streaming/ndjson?count=3&delay_ms=5&api_key=other%2Fkey", headers=H)
    assert r.status_code == 200
    event_id = r.headers["apitest-event-id"]
    await flush(signed_in)
    event = (await signed_in.get(f"/api/v1/portal/audit/events/{event_id}", headers=H)).json()
    assert event["raw_target"] == "/v1/streaming/ndjson?count=3&delay_ms=5&api_key=[redacted]"
    assert (event["http_version"], event["host"]) == ("1.1", "testserver")
    assert ["x-api-key", "[redacted]"] in event["header_list"]
    used, unused = event["credentials"]
    assert (used["source"], used["used"], unused["source"], unused["valid"]) == ("header", True, "query", None)
    assert len(event["chunk_offsets"]) == 3 and event["client_complete"] is True
    assert KEY not in json.dumps(event)

    page = (await signed_in.get(f"/portal/audit/{event_id}")).text
    assert 'id="chunk-timeline"' in page and 'id="header-list"' in page and 'id="credentials"' in page
    assert '<bdi class="v">/v1/streaming/ndjson?count=3&amp;delay_ms=5&amp;api_key=[redacted]</bdi> HTTP/1.1' in page
    assert '[redacted]</span> <span class="mono fingerprint"' in page
    assert used["fingerprint"] in page and unused["fingerprint"] in page
    assert "<script>" not in page and " style=" not in page


async def test_filters_by_raw_target_and_fingerprint(signed_in: httpx.AsyncClient) -> None:
    await signed_in.get("/v1/fixed/a%2Fb", headers=H)  # decoded to /v1/fixed/a/b: no route, so auth never ran
    await signed_in.get("/v1/whoami", headers=H)
    fp = (await signed_in.get("/v1/whoami", headers=H)).json()["credentials"][0]["fingerprint"]
    await flush(signed_in)
    api = "/api/v1/portal/audit/events"
    raw = (await signed_in.get(api, params={"raw_target": "%2F"}, headers=H)).json()["events"]
    assert [e["raw_target"] for e in raw] == ["/v1/fixed/a%2Fb"]
    assert raw[0]["path"] == "/v1/fixed/a/b"  # the decoded path stays for filtering
    by_fp = (await signed_in.get(api, params={"fp": fp}, headers=H)).json()["events"]
    assert len(by_fp) == 3 and all(e["credentials"][0]["fingerprint"] == fp for e in by_fp)
    assert [e["credentials"][0]["valid"] for e in by_fp] == [True, True, None]  # the no-route row: not checked
    bad = await signed_in.get(api, params={"fp": "sha256:XYZ"}, headers=H)
    assert bad.status_code == 400 and "fp" in bad.text
    page = await signed_in.get("/portal/audit", params={"fp": fp})
    assert page.status_code == 200 and 'name="fp"' in page.text and fp in page.text


async def test_exports_carry_the_wire_fields(signed_in: httpx.AsyncClient) -> None:
    await signed_in.get("/v1/whoami?x=%20", headers=H)
    await flush(signed_in)
    rows = list(csv.DictReader(io.StringIO((await signed_in.get("/api/v1/portal/audit/export.csv", headers=H)).text)))
    row = next(r for r in rows if r["raw_target"] == "/v1/whoami?x=%20")
    assert json.loads(row["header_list"])[0] == ["host", "testserver"]
    assert json.loads(row["credentials"])[0]["used"] is True
    lines = (await signed_in.get("/api/v1/portal/audit/export.ndjson", headers=H)).text.splitlines()
    assert any(json.loads(line).get("raw_target") == "/v1/whoami?x=%20" for line in lines)


def test_fingerprints_by_place() -> None:
    creds = [
        {"source": "header", "name": "X-API-Key", "fingerprint": "sha256:aaaaaaaaaaaa"},
        {"source": "query", "name": "api_key", "fingerprint": "sha256:bbbbbbbbbbbb"},
        {"source": "header", "name": "Authorization"},
    ]
    assert fingerprints(creds) == {"header:x-api-key": "sha256:aaaaaaaaaaaa", "query:api_key": "sha256:bbbbbbbbbbbb"}


def test_the_chunk_timeline_places_chunks_on_the_request_s_axis() -> None:
    assert chunk_timeline(None, 10, 1) is None
    chart = chunk_timeline([1.0, 1001.0, 3001.0], 3002.0, 0.5)
    assert chart is not None
    head, *chunks = chart.bars
    assert head.title == "response head sent at 0.5 ms"
    xs = [b.x for b in chunks]
    assert xs == sorted(xs) and (xs[2] - xs[1]) > (xs[1] - xs[0]) * 1.9
    assert chunks[1].title == "chunk 1 sent at 1.00 s"


async def test_meta_lists_every_filter_the_parser_takes(signed_in: httpx.AsyncClient) -> None:
    from apitest.audit.filters import PARAMS

    meta = (await signed_in.get("/api/v1/portal/audit/meta", headers=H)).json()
    assert set(meta["filters"]) == set(PARAMS) and {"raw_target", "fp"} <= set(meta["filters"])


async def test_event_page_shows_a_jwt_s_unverified_claims(signed_in: httpx.AsyncClient) -> None:
    import base64

    def seg(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    token = f"{seg({'alg': 'RS256', 'kid': 'k<1>'})}.{seg({'iss': 'https://idp', 'aud': ['a', 'b']})}.c2ln"
    r = await signed_in.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    await flush(signed_in)
    page = (await signed_in.get(f"/portal/audit/{r.headers['apitest-event-id']}")).text
    assert "iss=https://idp" in page and "aud=a,b" in page and "kid=k&lt;1&gt;" in page
    assert token not in page and "invalid" in page
