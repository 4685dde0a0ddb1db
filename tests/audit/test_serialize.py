from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

from apitest.audit.records import PayloadRecord
from apitest.audit.serialize import decode_body, event_json, rfc3339
from tests.audit.conftest import event


def test_event_fields_in_order_with_nulls() -> None:
    record = event(0.5, request_id="r1")
    out = event_json(record)
    assert list(out) == [
        "id",
        "timestamp",
        "duration_ms",
        "request_id",
        "session_id",
        "user_subject",
        "user_email",
        "auth_type",
        "api_key_name",
        "method",
        "path",
        "route_name",
        "endpoint_group",
        "status",
        "bytes_in",
        "bytes_out",
        "success",
        "error_message",
        "error_category",
        "remote_addr",
        "user_agent",
        "source",
        "raw_target",
        "http_version",
        "host",
        "header_list",
        "credentials",
        "ttfb_ms",
        "chunk_offsets",
        "client_complete",
    ]
    assert out["timestamp"] == "2026-11-21T12:00:00.500000Z"
    assert out["session_id"] is None
    json.dumps(out)


def test_utf8_bodies_are_strings_and_others_base64() -> None:
    payload = PayloadRecord(
        request_body="héllo".encode(),
        response_body=b"\x89PNG\r\n\x1a\n\x00",
        request_headers={"A": ["1"]},
        response_truncated=True,
        replayed_from="abc",
    )
    out = event_json(event(payload=payload))["payload"]
    assert out["request_body"] == "héllo" and "request_body_encoding" not in out
    assert out["response_body_encoding"] == "base64"
    assert base64.b64decode(out["response_body"]) == b"\x89PNG\r\n\x1a\n\x00"
    assert decode_body(out, "response") == payload.response_body
    assert decode_body(out, "request") == payload.request_body
    assert out["request_headers"] == {"A": ["1"]}
    assert (out["response_truncated"], out["replayed_from"]) == (True, "abc")
    json.dumps(out)


def test_empty_and_absent_parts_are_omitted() -> None:
    out = event_json(event(payload=PayloadRecord(request_body=b"")))["payload"]
    assert out == {
        "request_size_bytes": 0,
        "request_truncated": False,
        "response_size_bytes": 0,
        "response_truncated": False,
    }
    assert decode_body(out, "request") == b""
    assert "payload" not in event_json(event())
    assert "payload" not in event_json(event(payload=PayloadRecord()), include_payload=False)


def test_rfc3339_is_utc_with_microseconds() -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert rfc3339(ts) == "2026-01-02T03:04:05.000006Z"
    assert rfc3339(ts.astimezone(timezone(timedelta(hours=-5)))) == "2026-01-02T03:04:05.000006Z"
