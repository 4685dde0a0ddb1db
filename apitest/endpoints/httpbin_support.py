"""Shared parsing and response shapes of the httpbin group (go-httpbin parity).

go-httpbin's limits: a generated body is at most :data:`MAX_BODY` bytes and a requested duration at most
:data:`MAX_DURATION` seconds. Durations are Go duration strings (``1.5s``, ``300ms``) or seconds as a
decimal number (``1.5``), as go-httpbin's ``parseDuration`` accepts them.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from apitest.endpoints.helpers import header_map, query, query_map, request_origin
from apitest.http import ParamError
from apitest.registry import STR, STR_LIST_MAP, obj
from apitest.sensitive import Sensitive

GROUP = "httpbin"
MAX_BODY = 1024 * 1024
MAX_DURATION = 10.0

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")


def parse_duration_text(text: str) -> float | None:
    """Seconds from a Go duration (``1m30s``, ``250ms``, ``0``) or a decimal number of seconds; else None."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if _GO_DURATION.fullmatch(text):
        sign = -1.0 if text.startswith("-") else 1.0
        return sign * sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(text))
    if _DECIMAL.fullmatch(text):
        return float(text)
    return None


def duration_param(request: Request, name: str, default: float, minimum: float = 0.0) -> float:
    """A bounded duration query parameter: absent or empty → default; invalid or out of range → 400."""
    raw = query(request, name)
    if raw == "":
        return default
    seconds = parse_duration_text(raw)
    if seconds is None:
        raise ParamError(f"invalid {name}: {raw[:64]!r} is not a duration (e.g. 1.5s, 300ms or 1.5)")
    if seconds > MAX_DURATION or seconds < minimum:
        raise ParamError(f"invalid {name}: duration {seconds:g}s not in range [{minimum:g}s, {MAX_DURATION:g}s]")
    return seconds


def request_url(request: Request) -> str:
    """The URL the request was sent to, as this server sees it (see :func:`request_origin`)."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    qs = request.scope.get("query_string", b"")
    return request_origin(request) + raw_path.decode("latin-1") + ("?" + qs.decode("latin-1") if qs else "")


def client_origin(request: Request) -> str:
    """The peer address (go-httpbin prefers X-Forwarded-For; here that header is shown under headers only)."""
    return request.client.host if request.client else ""


def request_summary(request: Request, sensitive: Sensitive, *, with_url: bool = True) -> dict[str, Any]:
    """go-httpbin's ``noBodyResponse``: args, headers (``sensitive`` ones redacted), method, origin, url."""
    out: dict[str, Any] = {
        "args": query_map(request, sensitive),
        "headers": header_map(request, sensitive),
        "method": request.method,
        "origin": client_origin(request),
    }
    if with_url:
        out["url"] = request_url(request)
    return out


SUMMARY_PROPS: dict[str, Any] = {"args": STR_LIST_MAP, "headers": STR_LIST_MAP, "method": STR, "origin": STR}
SUMMARY_SCHEMA = obj(SUMMARY_PROPS | {"url": STR})
