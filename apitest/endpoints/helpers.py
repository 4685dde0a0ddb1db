"""Request-reading helpers shared by the fixture endpoints: query and header maps with credentials
redacted, bounded parameters read from a request, a disconnect-aware sleep.

Responses, parameter errors and the int64 parsers live in :mod:`apitest.http`.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.requests import Request

from apitest.http import canonical_header_name, non_negative_bounded_in, positive_bounded_in, wait_for_disconnect
from apitest.sensitive import REDACTED, Sensitive


def request_origin(request: Request) -> str:
    """``scheme://host`` of the request as it arrived: the ASGI scheme and the ``Host`` header
    (``X-Forwarded-*`` and ``server.base_url`` are ignored), so absolute URLs show what the gateway forwarded."""
    scheme = "https" if request.scope.get("scheme") == "https" else "http"
    return f"{scheme}://{request.headers.get('host', '')}"


def query(request: Request, name: str) -> str:
    """First value of a query parameter, or ``""``."""
    return request.query_params.get(name, "")


def positive_bounded(request: Request, name: str, default: int, maximum: int) -> int:
    """Absent or empty → default; not an integer or < 1 → 400; above ``maximum`` → 400."""
    return positive_bounded_in(request.query_params, name, default, maximum)


def non_negative_bounded(request: Request, name: str, default: int, maximum: int | None) -> int:
    """Absent or empty → default; not an integer or < 0 → 400; above ``maximum`` → 400."""
    return non_negative_bounded_in(request.query_params, name, default, maximum)


def is_redacted(name: str, redact_keys: list[str]) -> bool:
    lowered = name.lower()
    return any(key.lower() in lowered for key in redact_keys if key)


def header_map(request: Request, sensitive: Sensitive) -> dict[str, list[str]]:
    """Request headers as canonical name → values (arrival order), credentials redacted (see
    :mod:`apitest.sensitive`), keys sorted.

    ``Host`` (reported as ``host``) and ``Transfer-Encoding`` (hop-by-hop) are left out.
    """
    out: dict[str, list[str]] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name = canonical_header_name(raw_name.decode("latin-1"))
        if name in ("Host", "Transfer-Encoding"):
            continue
        out.setdefault(name, []).append(raw_value.decode("utf-8", "replace"))
    for name, values in out.items():
        if sensitive.header(name):
            out[name] = [REDACTED]
        elif sensitive.url_valued(name):
            out[name] = [sensitive.url(v) for v in values]
    return dict(sorted(out.items()))


def query_map(request: Request, sensitive: Sensitive) -> dict[str, list[str]]:
    """Query parameters as name → values (order kept), credential parameters redacted, keys sorted."""
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    for key in out:
        if sensitive.param(key):
            out[key] = [REDACTED]
    return dict(sorted(out.items()))


def go_number(value: float) -> int | float:
    """Integral floats as integers (``1.0`` → ``1``), as Go's encoder spells them; others unchanged."""
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


async def sleep_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep ``seconds`` unless the client disconnects first; ``True`` when the whole time passed.

    Reads the request's receive channel, so call it only where the request body is not needed.
    """
    if seconds <= 0:
        return True
    watcher = asyncio.ensure_future(wait_for_disconnect(request.receive))
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
    finally:
        if not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    if watcher in done:
        watcher.result()  # an error raised while receiving (a body over server.max_body_bytes) propagates
        return False
    return True
