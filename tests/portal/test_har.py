"""The HAR export: valid HAR 1.2 (checked against a schema written from the specification), redacted as
stored, capped like every export with payloads."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from apitest.audit.records import AuditFilters, EventRecord, PayloadRecord
from apitest.audit.store_memory import MemoryAuditStore
from apitest.portal import har
from apitest.portal.stream import PAYLOAD_EXPORT_MAX, export_rows, har_document, with_payloads
from tests.portal.conftest import KEY, flush

SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())
T0 = datetime(2026, 11, 21, 10, tzinfo=UTC)


def record(n: int, **fields: Any) -> EventRecord:
    payload = PayloadRecord(
        request_headers={"content-type": ["application/json"], "authorization": ["[redacted]"]},
        request_query={"a": ["1", "2"]},
        request_content_type="application/json",
        request_body=b'{"x": 1}',
        request_size_bytes=8,
        response_headers={"content-type": ["image/png"]},
        response_content_type="image/png",
        response_body=b"\x89PNG\x00\xff",
        response_size_bytes=6,
    )
    values: dict[str, Any] = {"method": "POST", "path": "/v1/echo", "status": 200, "success": True, "duration_ms": 4.5}
    values.update(fields)
    return EventRecord(id=str(uuid.UUID(int=n)), ts=T0 + timedelta(seconds=n), payload=payload, **values)


def test_an_entry_is_valid_har_and_keeps_redaction() -> None:
    entry = har.entry(record(1, ttfb_ms=1.5, http_version="1.1"), "https://fixture.example")
    document = {"log": {"version": "1.2", "creator": har.CREATOR, "pages": [], "entries": [entry]}}
    jsonschema.validate(document, SCHEMA)
    assert entry["request"]["url"] == "https://fixture.example/v1/echo?a=1&a=2"
    assert {"name": "authorization", "value": "[redacted]"} in entry["request"]["headers"]
    assert entry["request"]["postData"] == {"mimeType": "application/json", "text": '{"x": 1}'}
    assert entry["response"]["content"]["encoding"] == "base64"
    assert entry["timings"] == {"send": 0, "wait": 1.5, "receive": 3.0}
    assert entry["response"]["statusText"] == "OK" and entry["request"]["httpVersion"] == "HTTP/1.1"


def test_the_raw_target_and_header_order_are_used_when_captured() -> None:
    entry = har.entry(record(2, raw_target="/v1/echo?a=%2F", header_list=[["Host", "h"], ["X-B", "2"]]), "http://h")
    assert entry["request"]["url"] == "http://h/v1/echo?a=%2F"
    assert entry["request"]["headers"] == [{"name": "Host", "value": "h"}, {"name": "X-B", "value": "2"}]


async def collect(rows: Any) -> dict[str, Any]:
    chunks = [chunk async for chunk in rows]
    document: dict[str, Any] = json.loads(b"".join(chunks))
    return document


async def test_a_streamed_document_validates_and_says_when_a_limit_stopped_it() -> None:
    store = MemoryAuditStore()
    await store.append_many([record(n) for n in range(5)])
    full = await collect(har_document(with_payloads(store, export_rows(store, AuditFilters(), None)), "http://h"))
    jsonschema.validate(full, SCHEMA)
    assert len(full["log"]["entries"]) == 5 and "_apitest_export" not in full["log"]
    cut = await collect(har_document(with_payloads(store, export_rows(store, AuditFilters(), 2)), "http://h"))
    jsonschema.validate(cut, SCHEMA)
    assert len(cut["log"]["entries"]) == 2 and cut["log"]["_apitest_export"] == {"truncated": True, "limit": 2}
    empty = await collect(har_document(with_payloads(store, export_rows(store, AuditFilters(status=500), None)), "x"))
    assert empty["log"]["entries"] == []


async def test_the_route_exports_har_and_ndjson_with_payloads(portal: httpx.AsyncClient) -> None:
    portal.headers["X-API-Key"] = KEY
    await portal.post("/v1/echo?n=1", json={"secret": "no"}, headers={"X-Api-Key": KEY, "Cookie": "sid=topsecret"})
    await flush(portal)
    answer = await portal.get("/api/v1/portal/audit/export.har?route=echo_post")
    assert answer.status_code == 200 and answer.headers["content-disposition"].endswith('.har"')
    document = answer.json()
    jsonschema.validate(document, SCHEMA)
    (entry,) = document["log"]["entries"]
    assert json.loads(entry["request"]["postData"]["text"]) == {"secret": "no"}
    assert KEY not in answer.text and "topsecret" not in answer.text  # stored redacted, exported redacted
    lines = (await portal.get("/api/v1/portal/audit/export.ndjson?payloads=1&route=echo_post")).text.splitlines()
    assert json.loads(lines[0])["payload"]["request_body"]
    plain = (await portal.get("/api/v1/portal/audit/export.ndjson?route=echo_post")).text.splitlines()
    assert "payload" not in json.loads(plain[0])
    too_many = await portal.get(f"/api/v1/portal/audit/export.har?limit={PAYLOAD_EXPORT_MAX + 1}")
    assert too_many.status_code == 400 and "capped" in too_many.json()["error"]


async def test_exports_need_a_signed_in_caller(portal: httpx.AsyncClient) -> None:
    assert (await portal.get("/api/v1/portal/audit/export.har")).status_code == 401
