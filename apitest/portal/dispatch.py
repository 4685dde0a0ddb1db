"""Replay and Try-It: send a request through this server's own router, in process.

The request is built as an ASGI scope and handed to the app's router, so the whole ``/v1`` pipeline
(audit capture, inbound auth, rate limits, the handler) runs and records it like any other request. What
the pipeline reads from ``scope["state"]``:

- ``dispatch_source``: ``"tryit"`` or ``"replay"`` (the audit row's ``source``);
- ``replayed_from``: the id of the replayed event (the payload's ``replayed_from``);
- ``preset_identity``: the signed-in portal identity, used by the inbound chain when the request
  carries no credential of its own (a Try-It request may add an ``X-API-Key`` to test as that key);
- ``request_id``: the portal request's id, so the dispatched row can be traced to the portal action.

The audit capture stores the new event's id in ``scope["state"]["audit_event_id"]``; the result hands
it back so the page can link to the new row. Markers on the wire: ``X-Plexara-Try-It: true`` and
``X-Plexara-Replay-From: <id>``. Responses are captured up to 1 MiB.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Scope

from apitest.auth.identity import Identity
from apitest.http import canonical_header_name, json_bytes

MAX_BODY = 1024 * 1024
TIMEOUT = 90.0  # longer than the slowest fixture endpoint (/v1/slow allows 60 s)
TRY_IT_HEADER = "X-Plexara-Try-It"
TRY_IT_USER_AGENT = "apitest-portal (Try-It)"
REPLAY_HEADER = "X-Plexara-Replay-From"
REDACTED = "[redacted]"
# Never sent from a stored request: credentials (stored redacted anyway), and headers the server or the
# transport sets for the new request.
REPLAY_SKIPPED = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "host", "content-length", "transfer-encoding"}
    | {"connection", "keep-alive", "te", "upgrade", "x-request-id", "x-plexara-try-it", "x-plexara-replay-from"}
)
TRY_IT_BANNED = frozenset({"cookie", "authorization", "set-cookie", "host", "content-length", "transfer-encoding"})


@dataclass
class Outgoing:
    method: str
    path: str  # decoded, as a route sees it (the ASGI ``path``); ``raw_path`` and ``target`` are its encoding
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def raw_path(self) -> str:
        return quote(self.path, safe="/:@!$&'()*+,;=-._~")

    @property
    def target(self) -> str:
        return self.raw_path + ("?" + urlencode(self.query) if self.query else "")


@dataclass
class DispatchResult:
    status: int
    headers: dict[str, list[str]]
    body: bytes
    body_truncated: bool
    event_id: str | None
    target: str

    def body_json(self) -> dict[str, Any]:
        """Body as UTF-8 text, or base64 with ``body_encoding`` (as the audit API encodes bodies)."""
        try:
            return {"body": self.body.decode("utf-8")}
        except UnicodeDecodeError:
            return {"body": base64.b64encode(self.body).decode(), "body_encoding": "base64"}


def replay_request(
    method: str,
    path: str,
    query: dict[str, list[str]] | None,
    headers: dict[str, list[str]] | None,
    body: bytes | None,
    content_type: str | None,
    *,
    event_id: str,
    key_header: str,
    key_param: str,
) -> Outgoing:
    """The captured request, minus credentials: no Authorization, Cookie or API-key header, no API-key query
    parameter, nothing the audit stored as ``[redacted]``."""
    skipped = REPLAY_SKIPPED | {key_header.lower()}
    out = Outgoing(method=method, path=path)
    for name, values in (query or {}).items():
        if name in (key_param, "api_key") or REDACTED in values:
            continue
        out.query += [(name, v) for v in values]
    for name, values in (headers or {}).items():
        if name.lower() in skipped or REDACTED in values:
            continue
        out.headers += [(name, v) for v in values]
    out.body = (body or b"")[:MAX_BODY]
    if content_type and not any(n.lower() == "content-type" for n, _ in out.headers):
        out.headers.append(("Content-Type", content_type))
    out.headers.append((REPLAY_HEADER, event_id))
    return out


def try_it_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Operator-given headers minus Cookie, Authorization and Set-Cookie (an ``X-API-Key`` is allowed)."""
    out = [(n.strip(), v) for n, v in headers if n.strip() and n.strip().lower() not in TRY_IT_BANNED]
    out = [(n, v) for n, v in out if n.lower() != TRY_IT_HEADER.lower()]
    if not any(n.lower() == "user-agent" for n, _ in out):
        out.append(("User-Agent", TRY_IT_USER_AGENT))  # so the audit row says where the request came from
    out.append((TRY_IT_HEADER, "true"))
    return out


async def dispatch(
    router: ASGIApp,
    parent: Scope,
    outgoing: Outgoing,
    *,
    source: str,
    identity: Identity | None,
    replayed_from: str | None = None,
    limit_seconds: float = TIMEOUT,
) -> DispatchResult:
    """Run ``outgoing`` through ``router`` as a new request; capture the response up to 1 MiB."""
    parent_state = parent.get("state", {})
    host = next((v for k, v in parent.get("headers", []) if k == b"host"), b"localhost")
    headers: list[tuple[bytes, bytes]] = [(b"host", host)]
    headers += [(n.lower().encode("latin-1"), v.encode("utf-8")) for n, v in outgoing.headers]
    if outgoing.body:
        headers.append((b"content-length", str(len(outgoing.body)).encode()))
    state: dict[str, Any] = {
        "request_id": parent_state.get("request_id", ""),
        "dispatch_source": source,
        "replayed_from": replayed_from,
    }
    if identity is not None and identity.auth_type != "anonymous":
        state["preset_identity"] = identity
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": outgoing.method,
        "scheme": parent.get("scheme", "http"),
        "path": outgoing.path,
        "raw_path": outgoing.raw_path.encode("ascii"),
        "root_path": "",
        "query_string": urlencode(outgoing.query).encode("latin-1"),
        "headers": headers,
        "client": parent.get("client"),
        "server": parent.get("server"),
        "state": state,
        "app": parent.get("app"),
        "extensions": {},
    }
    finished = asyncio.Event()
    sent_body = False
    status = 500
    response_headers: dict[str, list[str]] = {}
    chunks: list[bytes] = []
    size = 0
    truncated = False

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": outgoing.body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, size, truncated
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for raw_name, raw_value in message.get("headers", []):
                name = canonical_header_name(raw_name.decode("latin-1"))
                response_headers.setdefault(name, []).append(raw_value.decode("latin-1"))
        elif message["type"] == "http.response.body":
            data = message.get("body", b"")
            room = MAX_BODY - size
            if len(data) > room:
                truncated = True
                finished.set()  # tell a streaming handler the client has gone
            chunks.append(data[: max(0, room)])
            size += min(len(data), max(0, room))
            if not message.get("more_body", False):
                finished.set()

    try:
        await asyncio.wait_for(router(scope, receive, send), limit_seconds)
    except HTTPException as exc:  # the path is no longer routed (its group was disabled since)
        status = exc.status_code
        message = "no such endpoint" if status == 404 else "method not allowed" if status == 405 else str(exc.detail)
        response_headers = {"Content-Type": ["application/json"]}
        chunks = [json_bytes({"error": message})]
    except TimeoutError:
        truncated = True
    finally:
        finished.set()
    return DispatchResult(
        status=status,
        headers=response_headers,
        body=b"".join(chunks),
        body_truncated=truncated,
        event_id=state.get("audit_event_id"),
        target=outgoing.target,
    )
