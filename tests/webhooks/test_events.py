from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from apitest.audit.records import EventRecord
from apitest.webhooks.events import audit_data, check_event_type, parse_event_filter, payload_bytes


def record(**fields: object) -> EventRecord:
    base: dict[str, object] = {
        "id": "e1",
        "ts": datetime(2026, 12, 2, tzinfo=UTC),
        "method": "POST",
        "path": "/v1/orders",
        "status": 503,
        "success": False,
        "route_name": "create_order",
    }
    return EventRecord(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("status=5xx route=create_order", "status=5xx route_name=create_order"),
        ("status=5xx&route_name=create_order", "status=5xx route_name=create_order"),
        ("  method=post  ", "method=POST"),
        ("q=hello%20world", "q=hello%20world"),
    ],
)
def test_filters_parse_to_a_canonical_text(text: str, canonical: str) -> None:
    parsed = parse_event_filter(text)
    assert parsed.text == canonical
    assert parse_event_filter(parsed.text).text == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status=600", "status: use a status code"),
        ("last=1h", "time filters do not apply"),
        ("colour=red", "colour: not a filter"),
        ("status", "is not key=value"),
        ("", "empty"),
        ("status=5xx status=4xx", "given twice"),
        ("source=elsewhere", "source: one of"),
    ],
)
def test_bad_filters_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_event_filter(text)


def test_matching_uses_the_audit_rules() -> None:
    f = parse_event_filter("status=5xx route=create_order")
    assert f.matches(record())
    assert not f.matches(record(status=201, success=True))
    assert not f.matches(record(route_name="validate"))
    assert parse_event_filter("path=ORDERS").matches(record())  # path contains, case-insensitive
    assert parse_event_filter("q=x").needs_payload and not f.needs_payload


def test_payload_is_compact_standard_webhooks_json() -> None:
    body = payload_bytes("audit.event", datetime(2026, 12, 2, 1, 2, 3, 4000, tzinfo=UTC), audit_data(record()))
    assert b" " not in body
    parsed = json.loads(body)
    assert list(parsed) == ["type", "timestamp", "data"]
    assert parsed["timestamp"] == "2026-12-02T01:02:03.004Z"
    assert parsed["data"]["route_name"] == "create_order" and parsed["data"]["status"] == 503
    assert "payload" not in parsed["data"]  # captured headers and bodies are never delivered


@pytest.mark.parametrize("value", ["", "a b", "x" * 101, 5, None, "-leading"])
def test_event_types_are_checked(value: object) -> None:
    with pytest.raises(ValueError, match="type:"):
        check_event_type(value)
    assert check_event_type("order.created") == "order.created"
