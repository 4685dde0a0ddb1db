"""Last-resort forms of an event the database refused, so the row is still written, marked.

Capture already makes every field storable (:mod:`apitest.storable`), so these run only when a database
still refuses a record (a driver or server rule capture does not know about). The writer tries, in order:

1. :func:`scrubbed`: every text field, header, query value and details string re-spelled in plain ASCII
   (non-ASCII as ``\\xe9`` / ``\\u2028`` / ``\\U0001f600`` escapes, NUL as ``\\x00``); the fields that changed are
   listed in ``details["audit_scrubbed"]``;
2. :func:`minimal`: the row without its payload, free-text fields replaced by ``[unstorable]`` and listed in
   ``details["audit_unstorable"]``, with the database's reason in ``details["audit_refusal"]``;
3. dropping the event alone, counted in ``apitest_audit_events_rejected_total``.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from apitest.audit.records import EventRecord, PayloadRecord
from apitest.storable import storable_value

UNSTORABLE = "[unstorable]"
TEXT_FIELDS = [f.name for f in fields(EventRecord) if f.type in ("str", "str | None")]
PAYLOAD_TEXT_FIELDS = [f.name for f in fields(PayloadRecord) if f.type in ("str", "str | None")]
MAP_FIELDS = ("request_headers", "request_query", "response_headers")
KEEP = frozenset(  # our own vocabulary or validated values, not free text
    {
        "id",
        "method",
        "auth_type",
        "source",
        "error_category",
        "request_id",
        "session_id",
        "route_name",
        "endpoint_group",
    }
    | {"remote_addr"}
)
MAX_REASON = 300


def ascii_text(text: str) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00")


def ascii_value(value: Any) -> Any:
    value = storable_value(value)
    if isinstance(value, str):
        return ascii_text(value)
    if isinstance(value, dict):
        return {ascii_text(k): ascii_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ascii_value(v) for v in value]
    return value


def scrubbed(record: EventRecord) -> EventRecord | None:
    """``record`` in plain ASCII, the changed fields listed in its details; ``None`` when nothing changed."""
    changed: list[str] = []
    updates: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = getattr(record, name)
        if isinstance(value, str) and (new := ascii_text(value)) != value:
            updates[name] = new
            changed.append(name)
    payload = record.payload
    if payload is not None:
        payload_updates: dict[str, Any] = {}
        for name in PAYLOAD_TEXT_FIELDS:
            value = getattr(payload, name)
            if isinstance(value, str) and (new := ascii_text(value)) != value:
                payload_updates[name] = new
                changed.append(f"payload.{name}")
        for name in MAP_FIELDS:
            value = getattr(payload, name)
            if value and (new := ascii_value(value)) != value:
                payload_updates[name] = new
                changed.append(f"payload.{name}")
        if payload_updates:
            updates["payload"] = replace(payload, **payload_updates)
    details = record.details
    if details and (new_details := ascii_value(details)) != details:
        details = new_details
        changed.append("details")
    if not changed:
        return None
    return replace(record, **updates, details={**(details or {}), "audit_scrubbed": changed})


def minimal(record: EventRecord, reason: str) -> EventRecord:
    """The row without payload, free text replaced by ``[unstorable]``, the refusal noted in details."""
    replaced = [
        name for name in TEXT_FIELDS if name not in KEEP and getattr(record, name) not in (None, "", UNSTORABLE)
    ]
    updates: dict[str, Any] = {name: UNSTORABLE for name in replaced}
    return replace(
        record,
        **updates,
        method=ascii_text(record.method)[:16] or "?",
        error_category=ascii_text(record.error_category)[:64] if record.error_category else None,
        request_id=ascii_text(record.request_id)[:128] if record.request_id else None,
        session_id=None,
        payload=None,
        details={
            "audit_unstorable": replaced + (["payload"] if record.payload is not None else []),
            "audit_refusal": ascii_text(reason)[:MAX_REASON],
        },
    )
