"""Try-It and "Edit and resend" on the portal pages: form text in, form text out.

- :func:`query_lines`: one ``name=value`` per line; a line holding ``&`` is a query string
  (``count=3&delay_ms=100``, percent-decoded, a leading ``?`` ignored) and gives one parameter per pair.
- :func:`example_body`: an example JSON body from a route's request schema (``examples``, ``const``,
  ``default``, ``enum``, bounds), e.g. a valid order for ``POST /v1/validate``.
- :func:`prefill`: the form of a captured event (method, path, query, headers, body) without credentials,
  the dispatch markers or the portal's own User-Agent: what "Edit and resend" opens and what a page shows
  after the POST-redirect-GET of a send.
- :func:`result_from_event`: a sent request's answer, read back from its audit event (so reloading the
  result page shows it again without sending anything).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from apitest.audit.serialize import decode_body
from apitest.portal.actions import parse_lines
from apitest.portal.data import DataError
from apitest.portal.dispatch import MAX_BODY, REDACTED, REPLAY_SKIPPED, TRY_IT_USER_AGENT, Outgoing, try_it_headers
from apitest.portal.inspect import body_view
from apitest.registry import RouteSpec

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
BASE64_FLAG = "body_base64"


def query_lines(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if "&" in line:
            pairs += [(n.strip(), v) for n, v in parse_qsl(line.lstrip("?"), keep_blank_values=True) if n.strip()]
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise DataError(f"query line {number}: expected name=value")
        pairs.append((name.strip(), value.strip()))
    return pairs


def example_value(schema: dict[str, Any]) -> Any:
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: example_value(properties[name]) for name in required if name in properties}
    if kind == "array":
        count = int(schema.get("minItems") or 0)
        return [example_value(schema.get("items") or {}) for _ in range(max(count, 1 if schema.get("items") else 0))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return False
    if kind == "string":
        return "x" * int(schema.get("minLength") or 1)
    return None


def example_body(spec: RouteSpec) -> str:
    """Pretty JSON for the route's JSON request schema, or "" when it has none."""
    content = (spec.request_body or {}).get("content") or {}
    for media, entry in content.items():
        schema = (entry or {}).get("schema")
        if "json" in media and isinstance(schema, dict):
            return json.dumps(example_value(schema), indent=2)
    return ""


def path_values(spec: RouteSpec, path: str) -> dict[str, str]:
    """The path parameters of ``path`` for the route's template (``/v1/status/{code}`` → ``{"code": ...}``)."""
    pattern = "".join(
        f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(_PARAM.split(spec.path))
    )
    match = re.fullmatch(pattern, path)
    return match.groupdict() if match else {}


def prefill(event: dict[str, Any]) -> dict[str, str]:
    """Form values from a captured event (credentials and our own markers left out)."""
    payload = event.get("payload") or {}
    query = payload.get("request_query") or {}
    headers = payload.get("request_headers") or {}
    lines = [f"{n}={v}" for n, vs in query.items() if REDACTED not in vs for v in vs]
    header_lines = [
        f"{n}: {v}"
        for n, vs in headers.items()
        if n.lower() not in REPLAY_SKIPPED and REDACTED not in vs
        for v in vs
        if not (n.lower() == "user-agent" and v == TRY_IT_USER_AGENT)
    ]
    body = decode_body(payload, "request")
    values = {
        "method": str(event.get("method") or "GET"),
        "path": str(event.get("path") or "/v1/"),
        "query": "\n".join(lines),
        "headers": "\n".join(header_lines),
        "body": "",
    }
    try:
        values["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        values["body"] = base64.b64encode(body).decode("ascii")
        values[BASE64_FLAG] = "on"
    values["redacted"] = ", ".join(
        [f"query {n}" for n, vs in query.items() if REDACTED in vs]
        + [f"header {n}" for n, vs in headers.items() if REDACTED in vs]
    )
    return values


def result_from_event(event: dict[str, Any]) -> dict[str, Any]:
    """The result block of a Try-It or resend, from the audit event it produced."""
    payload = event.get("payload") or {}
    pairs = [f"{n}={v}" for n, vs in (payload.get("request_query") or {}).items() for v in vs]
    return {
        "status": event["status"],
        "method": event["method"],
        "dispatched_to": event["path"] + ("?" + "&".join(pairs) if pairs else ""),
        "event_id": event["id"],
        "headers": payload.get("response_headers") or {},
        "body_truncated": bool(payload.get("response_truncated")),
        "view": body_view(payload, "response", decode_body(payload, "response")),
        "captured": bool(payload),
    }


def result_from_dispatch(result: dict[str, Any]) -> dict[str, Any]:
    """The result block straight from a dispatch (no audit event to read it back from)."""
    fake = {
        "response_body": result.get("body"),
        "response_body_encoding": result.get("body_encoding"),
        "response_content_type": next(iter((result.get("headers") or {}).get("Content-Type", [])), ""),
        "response_size_bytes": 0,
        "response_truncated": result.get("body_truncated"),
    }
    view = body_view(fake, "response", decode_body(fake, "response"))
    view["size"] = view["captured"]
    return {**result, "view": view, "captured": True}


def resend_input(values: dict[str, str]) -> Outgoing:
    """The edited request of the resend form; only ``/v1/`` paths (the portal never dispatches to itself)."""
    method = values.get("method", "").strip().upper()
    if not re.fullmatch(r"[A-Z]{1,16}", method):
        raise DataError("method must be an HTTP method name")
    path = values.get("path", "").strip()
    if not path.startswith("/v1/") or any(seg in (".", "..") for seg in path.split("/")) or "?" in path:
        raise DataError("path must be a /v1/ path (put the query in the query box)")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise DataError("path must not contain control characters")
    text = values.get("body", "")
    if values.get(BASE64_FLAG):
        try:
            body = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DataError("body is marked base64 but does not decode") from exc
    else:
        body = text.encode("utf-8")
    return Outgoing(
        method=method,
        path=path,
        query=query_lines(values.get("query", "")),
        headers=try_it_headers(parse_lines(values.get("headers", ""), ":")),
        body=body[:MAX_BODY],
    )
