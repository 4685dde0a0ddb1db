"""The request head as it arrived on the wire: request-target, HTTP version and header names as sent.

ASGI hands the application a decoded ``path`` and lowercased header names, which hides exactly what gateways
do differently (nginx decodes ``%2F`` and talks HTTP/1.0 upstream; HAProxy forwards the target untouched).
The production protocol (:class:`apitest.http_guard.GuardedHttpToolsProtocol`) therefore keeps the raw
request-target and the header names as sent, and hands them over as ``scope["extensions"][RAW_KEY]``
(a :class:`RawHead`). Without it (tests through httpx's ASGI transport, the h11 protocol, the portal's
Try-It) the scope is the fallback: ``raw_path`` plus ``query_string``, names lowercased.

A leaf module (it imports nothing from the app), so endpoints, the protocol and the audit can all use it.
Redaction is the caller's rule, passed as ``secret(name) -> bool``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import Scope

RAW_KEY = "apitest.raw"
REDACTED = "[redacted]"

Secret = Callable[[str], bool]
Scrub = Callable[[str, str], str]  # (header name, value) -> the value with credentials inside it redacted


def _keep(name: str, value: str) -> str:
    return value


@dataclass(slots=True)
class RawHead:
    """What the protocol saw of one request head; ``names`` pairs index by index with ``scope["headers"]``."""

    target: bytes
    names: list[bytes]
    received: int = 0  # request-body bytes read from the socket
    # uvicorn's RequestResponseCycle, weakly: ``disconnected`` tells whether the client left. A strong reference
    # would make a cycle (cycle -> scope -> extensions -> this -> cycle) that keeps every request's scope, with
    # its headers, alive until the garbage collector runs: 300 requests with 800 KB headers held 90 MB.
    cycle_ref: Any = None

    @property
    def cycle(self) -> Any:
        return self.cycle_ref() if self.cycle_ref is not None else None


def raw_head(scope: Scope) -> RawHead | None:
    extensions = scope.get("extensions")
    found = extensions.get(RAW_KEY) if extensions else None
    return found if isinstance(found, RawHead) else None


def target_bytes(scope: Scope) -> bytes:
    """The request-target as received, or rebuilt from the scope when the protocol did not keep it."""
    head = raw_head(scope)
    if head is not None:
        return head.target
    path: bytes = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "backslashreplace")
    query = scope.get("query_string", b"")
    return path + b"?" + query if query else path


def header_pairs(scope: Scope) -> list[tuple[bytes, bytes]]:
    """``scope["headers"]`` with each name spelled as sent (when the protocol kept it), in arrival order."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    head = raw_head(scope)
    if head is None:
        return list(headers)
    names = head.names
    out = []
    for i, (name, value) in enumerate(headers):
        original = names[i] if i < len(names) else name
        out.append((original if original.lower() == name else name, value))
    return out


def version_of(scope: Scope) -> str:
    return str(scope.get("http_version") or "1.1")


def redact_target(target: str, secret: Secret) -> str:
    """``target`` with the value of every redacted query parameter replaced; every other byte kept."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, eq, _ = part.partition("=")
        if eq and secret(unquote_plus(name)):
            parts[i] = f"{name}={REDACTED}"
            changed = True
    return f"{path}?{'&'.join(parts)}" if changed else target


def head_fields(scope: Scope, secret: Secret, scrub: Scrub = _keep) -> dict[str, Any]:
    """``raw_target``, ``http_version``, ``host`` and ``header_list`` as ``/v1/echo`` and ``/v1/headers`` answer
    them (the audit row stores the same, bounded)."""
    host = None
    pairs = []
    for raw_name, raw_value in header_pairs(scope):
        name = raw_name.decode("latin-1")
        value = raw_value.decode("utf-8", "replace")
        if host is None and name.lower() == "host":
            host = value
        pairs.append([name, REDACTED if secret(name) else scrub(name, value)])
    return {
        "raw_target": redact_target(target_bytes(scope).decode("latin-1"), secret),
        "http_version": version_of(scope),
        "host": host,
        "header_list": pairs,
    }


def dump(scope: Scope, secret: Secret, body: bytes, scrub: Scrub = _keep) -> bytes:
    """The request as it arrived, as text: request line, headers in arrival order and spelling, blank line, body
    (go-httpbin's ``/dump/request``); credentials redacted."""
    target = redact_target(target_bytes(scope).decode("latin-1"), secret)
    lines = [f"{scope['method']} {target} HTTP/{version_of(scope)}"]
    for raw_name, raw_value in header_pairs(scope):
        name = raw_name.decode("latin-1")
        value = REDACTED if secret(name) else scrub(name, raw_value.decode("latin-1"))
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
