"""The JSON form of audit events (portal API, live tail, NDJSON export).

Field names are those of the audit API (docs/audit.md): ``timestamp`` is the ``ts`` column in RFC 3339
UTC with microseconds and ``Z``. A body that is valid UTF-8 is a string; any other body is standard
base64 with a sibling ``*_body_encoding: "base64"``; empty or absent bodies are omitted.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from apitest.audit.records import EventRecord, PayloadRecord


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body_fields(prefix: str, body: bytes | None) -> dict[str, str]:
    if not body:
        return {}
    try:
        return {f"{prefix}_body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{prefix}_body": base64.b64encode(body).decode("ascii"), f"{prefix}_body_encoding": "base64"}


def decode_body(data: dict[str, Any], prefix: str) -> bytes:
    """The raw bytes of a serialised ``request``/``response`` body (``b""`` when absent)."""
    text = data.get(f"{prefix}_body")
    if not text:
        return b""
    if data.get(f"{prefix}_body_encoding") == "base64":
        return base64.b64decode(text)
    return str(text).encode("utf-8")


def payload_json(p: PayloadRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.request_headers is not None:
        out["request_headers"] = p.request_headers
    if p.request_query is not None:
        out["request_query"] = p.request_query
    if p.request_content_type:
        out["request_content_type"] = p.request_content_type
    out.update(body_fields("request", p.request_body))
    out["request_size_bytes"] = p.request_size_bytes
    out["request_truncated"] = p.request_truncated
    if p.request_remote_addr:
        out["request_remote_addr"] = p.request_remote_addr
    if p.response_headers is not None:
        out["response_headers"] = p.response_headers
    if p.response_content_type:
        out["response_content_type"] = p.response_content_type
    out.update(body_fields("response", p.response_body))
    out["response_size_bytes"] = p.response_size_bytes
    out["response_truncated"] = p.response_truncated
    if p.replayed_from:
        out["replayed_from"] = p.replayed_from
    return out


WIRE_FIELDS = (
    "raw_target",
    "http_version",
    "host",
    "header_list",
    "credentials",
    "ttfb_ms",
    "chunk_offsets",
    "client_complete",
)


def wire_json(e: EventRecord) -> dict[str, Any]:
    """The request as it arrived, the credential evidence and the wire timing; every field present (``null``
    when unset, e.g. rows recorded before these were captured)."""
    return {name: getattr(e, name) for name in WIRE_FIELDS}


def event_json(e: EventRecord, *, include_payload: bool = True) -> dict[str, Any]:
    """One event in the audit API's field order; every event field is present (``null`` when unset)."""
    out: dict[str, Any] = {
        "id": e.id,
        "timestamp": rfc3339(e.ts),
        "duration_ms": e.duration_ms,
        "request_id": e.request_id,
        "session_id": e.session_id,
        "user_subject": e.user_subject,
        "user_email": e.user_email,
        "auth_type": e.auth_type,
        "api_key_name": e.api_key_name,
        "method": e.method,
        "path": e.path,
        "route_name": e.route_name,
        "endpoint_group": e.endpoint_group,
        "status": e.status,
        "bytes_in": e.bytes_in,
        "bytes_out": e.bytes_out,
        "success": e.success,
        "error_message": e.error_message,
        "error_category": e.error_category,
        "remote_addr": e.remote_addr,
        "user_agent": e.user_agent,
        "source": e.source,
    }
    if e.recorded_at is not None:
        out["recorded_at"] = rfc3339(e.recorded_at)
    if e.details:
        out["details"] = e.details
    out.update(wire_json(e))
    if include_payload and e.payload is not None:
        out["payload"] = payload_json(e.payload)
    return out
