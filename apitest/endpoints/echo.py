"""Echo group: the request as the fixture received it (method, path, query, redacted headers, body)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import header_map, query_map
from apitest.http import json_response
from apitest.registry import INT, PLAIN, STR, STR_LIST_MAP, Reply, RouteSpec, obj, ok
from apitest.wirehead import dump, head_fields

BODY_CAP = 1024 * 1024  # longer bodies are cut to this prefix, silently
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")

_MISSING = object()


async def read_capped(request: Request, cap: int) -> bytes:
    """Up to ``cap`` bytes of the request body; the rest is never read."""
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) >= cap:
            break
    return bytes(buf[:cap])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Python reads infinity, which JSON cannot spell back
        raise ValueError("number out of range")
    return value


def _sorted_keys(value: Any) -> Any:
    """Objects with their keys sorted, at every depth (parsed bodies are re-encoded that way).
    A string holding a lone surrogate (``"\\ud800"``) cannot be re-encoded as UTF-8: ``ValueError``."""
    if isinstance(value, dict):
        return {_text(k): _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    return value


def _text(value: str) -> str:
    if not value.isascii():
        value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
    return value


def parse_json(body: bytes) -> Any:
    """The parsed body, or ``_MISSING`` when it is not strict JSON (no NaN/Infinity, no BOM, UTF-8) or cannot be
    echoed back as JSON (a number out of range, a lone surrogate): then the body is echoed as text."""
    try:
        return _sorted_keys(json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _MISSING
    except RecursionError:  # nested deeper than the interpreter allows (Go's decoder also stops, at 10000)
        return _MISSING


@needs_deps
async def echo(request: Request, *, deps: EndpointDeps) -> Response:
    body = b"" if request.method == "HEAD" else await read_capped(request, BODY_CAP)
    out: dict[str, Any] = {"method": request.method, "path": request.scope["path"]}
    sensitive = deps.sensitive
    params = query_map(request, sensitive)
    if params:
        out["query"] = params
    out["headers"] = header_map(request, sensitive)
    if body:
        parsed = parse_json(body)
        if parsed is _MISSING:
            out["body_raw_text"] = body.decode("utf-8", "replace")
        elif parsed is not None:
            out["body"] = parsed
    out["body_size"] = len(body)
    out.update(head_fields(request.scope, sensitive.name, sensitive.value))
    return json_response(out)


@needs_deps
async def dump_request(request: Request, *, deps: EndpointDeps) -> Response:
    """The request as it arrived, as text (go-httpbin's ``/dump/request``), credentials redacted."""
    body = await read_capped(request, BODY_CAP)
    sensitive = deps.sensitive
    return Response(dump(request.scope, sensitive.name, body, sensitive.value), media_type=PLAIN)


HEADER_LIST: dict[str, Any] = {
    "type": "array",
    "description": "The headers as [name, value] pairs in arrival order and spelling, duplicates kept.",
    "items": {"type": "array", "items": STR, "minItems": 2, "maxItems": 2},
}
ECHO_SCHEMA = obj(
    {
        "method": STR,
        "path": STR,
        "query": STR_LIST_MAP,
        "headers": STR_LIST_MAP,
        "body": {"description": "The body parsed as JSON (object keys sorted), when it is JSON and not null."},
        "body_raw_text": {"type": "string", "description": "The body as text, when it is not JSON."},
        "body_size": INT,
        "raw_target": {"type": "string", "description": "The request-target as received: undecoded, with the query."},
        "http_version": {"type": "string", "example": "1.1"},
        "host": {"type": ["string", "null"], "description": "The Host header as received."},
        "header_list": HEADER_LIST,
    },
    required=["method", "path", "headers", "body_size", "raw_target", "http_version", "host", "header_list"],
)
REQUEST_BODY: dict[str, Any] = {
    "description": "Any content, of any content type; the first 1 MiB is read and echoed.",
    "required": False,
    "content": {"*/*": {"schema": {}}},
}


def _route(method: str) -> RouteSpec:
    return RouteSpec(
        f"echo_{method.lower()}",
        method,
        "/v1/echo",
        "echo",
        "Echoes the request: method, path, query, headers (credentials redacted) and body."
        if method != "HEAD"
        else "Echo's headers without a body.",
        echo,
        responses={200: ok(ECHO_SCHEMA) if method != "HEAD" else Reply("Success (headers only).", None)},
        request_body=None if method == "HEAD" else REQUEST_BODY,
    )


ROUTES = [
    *(_route(method) for method in METHODS),
    RouteSpec(
        "dump_request",
        "GET",
        "/v1/dump",
        "echo",
        "The request as it arrived, as text: request line, headers in arrival order and spelling, blank line, "
        "body (credentials redacted).",
        dump_request,
        responses={
            200: ok(
                {"type": "string", "example": "GET /v1/dump?a=1 HTTP/1.1\r\nHost: example.test\r\n\r\n"},
                content_type=PLAIN,
            )
        },
    ),
]
