from __future__ import annotations

from apitest.audit.records import PayloadRecord
from apitest.audit.scrub import UNSTORABLE, ascii_text, minimal, scrubbed
from tests.audit.conftest import event


def test_ascii_text_escapes_everything_outside_ascii_and_nul() -> None:
    assert ascii_text("a\x00é\ud800\U0001f600") == "a\\x00\\xe9\\ud800\\U0001f600"
    assert ascii_text("plain") == "plain"


def test_scrubbed_respells_changed_fields_and_lists_them() -> None:
    record = event(
        path="/v1/\ud800",
        user_agent="ok",
        details={"k": "é"},
        payload=PayloadRecord(request_headers={"X-A": ["\x00"]}, request_content_type="text/plain"),
    )
    out = scrubbed(record)
    assert out is not None
    assert out.path == "/v1/\\ud800" and out.user_agent == "ok"
    assert out.payload is not None and out.payload.request_headers == {"X-A": ["\\x00"]}
    assert out.details == {"k": "\\xe9", "audit_scrubbed": ["path", "payload.request_headers", "details"]}
    assert scrubbed(event()) is None  # nothing to re-spell


def test_minimal_keeps_the_facts_and_marks_what_it_replaced() -> None:
    record = event(path="/v1/x", error_message="boom", user_subject="s", payload=PayloadRecord(request_body=b"b"))
    out = minimal(record, "DataError: invalid byte sequence")
    assert (out.id, out.status, out.method, out.ts, out.route_name) == (
        record.id,
        record.status,
        record.method,
        record.ts,
        record.route_name,
    )
    assert (out.path, out.error_message, out.user_subject, out.payload) == (UNSTORABLE, UNSTORABLE, UNSTORABLE, None)
    assert out.details == {
        "audit_unstorable": ["path", "user_subject", "error_message", "payload"],
        "audit_refusal": "DataError: invalid byte sequence",
    }
