"""HAR 1.2 (HTTP Archive) entries from audit rows, for loading a filtered audit view in browser DevTools,
Charles, Fiddler or any HAR viewer.

One entry per row, newest first like the list (viewers sort by ``startedDateTime``): the request (method, URL on the
public origin, HTTP version, headers in arrival order when the wire capture has them, query string,
body as ``postData``), the response (status, headers, body as ``content`` with ``encoding: base64`` for
binary), ``time`` and ``timings`` (``wait`` is time to first byte when known). What the audit redacted
stays redacted: credentials were never stored, and the headers and bodies are the stored ones. apitest's
own facts ride along under ``_apitest`` (id, route, caller, error category, truncation), as HAR allows for
custom fields with a leading underscore. Written by hand from the specification
(http://www.softwareishard.com/blog/har-12-spec/): the format is a plain JSON shape and the Python HAR
libraries only read it.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from apitest import __version__
from apitest.audit.records import EventRecord
from apitest.audit.serialize import event_json

CREATOR = {"name": "apitest", "version": __version__}


def _pairs(mapping: dict[str, list[str]] | None) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, values in (mapping or {}).items() for value in values]


def _status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _http_version(record: EventRecord) -> str:
    version = record.http_version or "1.1"
    return version if version.upper().startswith("HTTP/") else f"HTTP/{version}"


def _url(origin: str, record: EventRecord, query: dict[str, list[str]] | None) -> str:
    if record.raw_target and record.raw_target.startswith("/"):
        return origin + record.raw_target
    pairs = [(k, v) for k, vs in (query or {}).items() for v in vs]
    return origin + record.path + ("?" + urlencode(pairs) if pairs else "")


def _content(data: dict[str, Any], side: str, mime: str) -> dict[str, Any]:
    text = data.get(f"{side}_body")
    out: dict[str, Any] = {"size": int(data.get(f"{side}_size_bytes") or 0), "mimeType": mime}
    if text is not None:
        out["text"] = text
        if data.get(f"{side}_body_encoding") == "base64":
            out["encoding"] = "base64"
    return out


def entry(record: EventRecord, origin: str) -> dict[str, Any]:
    """The HAR entry of one audit row read with its payload (``store.get``)."""
    data = event_json(record, include_payload=True)
    payload = data.get("payload") or {}
    request_headers = (
        [{"name": n, "value": v} for n, v, *_ in record.header_list]
        if record.header_list
        else _pairs(payload.get("request_headers"))
    )
    request_mime = payload.get("request_content_type") or ""
    request: dict[str, Any] = {
        "method": record.method,
        "url": _url(origin, record, payload.get("request_query")),
        "httpVersion": _http_version(record),
        "cookies": [],
        "headers": request_headers,
        "queryString": _pairs(payload.get("request_query")),
        "headersSize": -1,
        "bodySize": int(payload.get("request_size_bytes") or record.bytes_in or 0),
    }
    if payload.get("request_body") is not None:
        post = _content(payload, "request", request_mime)
        request["postData"] = {"mimeType": request_mime, "text": post.get("text", "")}
        if post.get("encoding"):
            request["postData"]["_encoding"] = "base64"
    response_mime = payload.get("response_content_type") or ""
    wait = record.ttfb_ms if record.ttfb_ms is not None else record.duration_ms
    return {
        "startedDateTime": data["timestamp"],
        "time": record.duration_ms,
        "request": request,
        "response": {
            "status": record.status,
            "statusText": _status_text(record.status),
            "httpVersion": _http_version(record),
            "cookies": [],
            "headers": _pairs(payload.get("response_headers")),
            "content": _content(payload, "response", response_mime),
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": int(payload.get("response_size_bytes") or record.bytes_out or 0),
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": max(0.0, record.duration_ms - wait)},
        "_apitest": {
            "id": record.id,
            "route_name": record.route_name,
            "success": record.success,
            "error_category": record.error_category,
            "caller": record.user_email or record.api_key_name or record.user_subject,
            "source": record.source,
            "request_truncated": bool(payload.get("request_truncated")),
            "response_truncated": bool(payload.get("response_truncated")),
        },
    }


def head() -> bytes:
    log = {"version": "1.2", "creator": CREATOR, "pages": []}
    text = json.dumps({"log": log}, ensure_ascii=False)
    return (text[: -len("}}")] + ', "entries": [\n').encode()


def tail(note: dict[str, Any] | None) -> bytes:
    """Close the entries array; ``note`` (a limit reached, an error) is kept as ``log._apitest_export``."""
    extra = f', "_apitest_export": {json.dumps(note, ensure_ascii=False)}' if note else ""
    return f"\n]{extra}}}}}\n".encode()
