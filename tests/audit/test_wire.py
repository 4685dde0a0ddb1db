"""The wire-exact fields of an audit row, through the real app (ASGI transport: the scope fallback of
:mod:`apitest.wirehead`; the production protocol is covered in tests/test_http_guard.py)."""

from __future__ import annotations

import re

from tests.audit.test_capture import API_KEY, KEYED, Audited, AuditedFactory
from tests.audit.test_capture import audited as audited  # noqa: F401 - the fixture

FP = re.compile(r"^sha256:[0-9a-f]{12}$")


async def test_the_row_keeps_the_request_as_it_arrived(audited: AuditedFactory) -> None:
    a: Audited = await audited(KEYED)
    r = await a.client.get(
        "/v1/t/who?x=%2F&api_key=nope&e=%2e%2e",
        headers=[("X-API-Key", API_KEY), ("X-Multi", "1"), ("x-multi", "2"), ("Host", "gw.example:8443")],
    )
    assert r.status_code == 200
    row = await a.one()
    assert row.path == "/v1/t/who"
    assert row.raw_target == "/v1/t/who?x=%2F&api_key=[redacted]&e=%2e%2e"
    assert (row.http_version, row.host) == ("1.1", "gw.example:8443")
    assert row.header_list is not None
    names = [name for name, _ in row.header_list]
    assert names.index("x-multi") < len(names) - 1 and names.count("x-multi") == 2  # duplicates, in order
    assert ["x-api-key", "[redacted]"] in row.header_list
    assert API_KEY not in str(row.header_list) and API_KEY not in str(row.credentials)


async def test_credential_evidence_names_every_credential_and_the_winner(audited: AuditedFactory) -> None:
    a = await audited(KEYED)
    r = await a.client.get("/v1/t/who?api_key=other-key", headers={"X-API-Key": API_KEY})
    assert r.status_code == 200
    row = await a.one()
    assert row.credentials is not None
    header, query = row.credentials
    assert (header["kind"], header["source"], header["name"], header["valid"], header["used"]) == (
        "api_key",
        "header",
        "X-API-Key",
        True,
        True,
    )
    assert (query["kind"], query["source"], query["valid"], query["used"]) == ("api_key", "query", None, False)
    assert FP.match(header["fingerprint"]) and FP.match(query["fingerprint"])
    assert header["fingerprint"] != query["fingerprint"]


async def test_the_same_key_has_the_same_fingerprint_and_a_wrong_one_is_invalid(audited: AuditedFactory) -> None:
    a = await audited(KEYED)
    await a.client.get("/v1/t/who", headers={"X-API-Key": API_KEY})
    await a.client.get("/v1/t/who", headers={"X-API-Key": "wrong"})
    await a.client.get("/v1/t/who", params={"api_key": API_KEY})
    good, bad, by_query = await a.rows()
    assert good.credentials and bad.credentials and by_query.credentials
    assert bad.status == 401 and bad.credentials[0]["valid"] is False and bad.credentials[0]["used"] is False
    assert by_query.credentials[0]["source"] == "query" and by_query.credentials[0]["used"] is True
    assert good.credentials[0]["fingerprint"] == by_query.credentials[0]["fingerprint"]
    assert good.credentials[0]["fingerprint"] != bad.credentials[0]["fingerprint"]


async def test_a_jwt_shows_its_claims_unverified(audited: AuditedFactory) -> None:
    import base64
    import json

    def seg(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    token = ".".join(
        [
            seg({"alg": "RS256", "kid": "k1"}),
            seg({"iss": "https://idp", "sub": "svc", "aud": ["a", 7, "b"], "azp": "gw"}),
            "c2ln",
        ]
    )
    a = await audited({"bearer": {"tokens": [{"token": "static-token", "name": "s"}]}})
    r = await a.client.get("/v1/t/who", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    (jwt,) = (await a.one()).credentials or []
    assert jwt["kind"] == "jwt" and jwt["valid"] is False
    assert {k: jwt[k] for k in ("iss", "kid", "sub", "aud", "azp")} == {
        "iss": "https://idp",
        "kid": "k1",
        "sub": "svc",
        "aud": ["a", "b"],
        "azp": "gw",
    }


async def test_the_response_names_its_row(audited: AuditedFactory) -> None:
    a = await audited()
    r = await a.client.get("/v1/t/status/418")
    assert r.headers["apitest-event-id"] == (await a.one()).id


async def test_timing_is_fractional_and_a_stream_has_chunk_offsets(audited: AuditedFactory) -> None:
    a = await audited()
    await a.client.get("/v1/t/status/200")
    await a.client.get("/v1/t/stream")
    plain, streamed = await a.rows()
    assert isinstance(plain.duration_ms, float) and plain.ttfb_ms is not None
    assert plain.chunk_offsets is None and plain.client_complete is True
    offsets = streamed.chunk_offsets
    assert offsets is not None and len(offsets) == 3 and offsets == sorted(offsets)
    assert streamed.ttfb_ms is not None and streamed.ttfb_ms <= offsets[0] <= streamed.duration_ms


async def test_bytes_in_is_what_the_client_sent(audited: AuditedFactory) -> None:
    a = await audited()
    await a.client.post("/v1/t/echo", content=b"x" * 100)
    await a.client.post("/v1/t/ignore", content=b"y" * 70)
    read, unread = await a.rows()
    assert (read.bytes_in, read.bytes_out) == (100, 100)
    assert unread.bytes_in == 70


async def test_an_unrouted_row_lists_the_credentials_unchecked(audited: AuditedFactory) -> None:
    a = await audited(KEYED)
    assert (await a.client.get("/v1/t/nowhere", headers={"X-API-Key": API_KEY})).status_code == 404
    row = await a.one()
    assert row.error_category == "no_route" and row.credentials is not None
    assert [(c["valid"], c["used"]) for c in row.credentials] == [(None, False)]
