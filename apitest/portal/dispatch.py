"""Replay and Try-It: send a request through this server's own router, in process.

The request is built as an ASGI scope and handed to the app's router, so the whole ``/v1`` pipeline
(audit capture, inbound auth, rate limits, the handler) runs and records it like any other request. What
the pipeline reads from the request's :class:`~apitest.outcome.RequestOutcome`:

- ``dispatch_source``: ``"tryit"`` or ``"replay"`` (the audit row's ``source``);
- ``replayed_from``: the id of the replayed event (the payload's ``replayed_from``);
- ``preset_identity``: the signed-in portal identity, used by the inbound chain when the request
  carries no credential of its own (a Try-It request may add an ``X-API-Key`` to test as that key);
- ``request_id``: the portal request's id, so the dispatched row can be traced to the portal action.

The audit capture stores the new event's id in the outcome's ``audit_event_id``; the result hands
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

from apitest.http import canonical_header_name, json_bytes
from apitest.identity import Identity
from apitest.outcome import OUTCOME_KEY, DispatchSource, RequestOutcome, peek

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


def _headers(parent: Scope, outgoing: Outgoing) -> list[tuple[bytes, bytes]]:
    """The parent request's Host, the outgoing headers, and a Content-Length for a body."""
    host = next((v for k, v in parent.get("headers", []) if k == b"host"), b"localhost")
    headers: list[tuple[bytes, bytes]] = [(b"host", host)]
    headers += [(n.lower().encode("latin-1"), v.encode("utf-8")) for n, v in outgoing.headers]
    if outgoing.body:
        headers.append((b"content-length", str(len(outgoing.body)).encode()))
    return headers


def _outcome(
    parent: Scope, source: DispatchSource, identity: Identity | None, replayed_from: str | None
) -> RequestOutcome:
    """What the /v1 pipeline reads from the request's outcome (see the module docstring)."""
    parent_outcome = peek(parent)
    return RequestOutcome(
        request_id=parent_outcome.request_id if parent_outcome else "",
        dispatch_source=source,
        replayed_from=replayed_from,
        preset_identity=identity if identity is not None and identity.auth_type != "anonymous" else None,
    )


def build_scope(parent: Scope, outgoing: Outgoing, outcome: RequestOutcome) -> Scope:
    """A new HTTP scope for ``outgoing``, on the parent's connection details."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": outgoing.method,
        "scheme": parent.get("scheme", "http"),
        "path": outgoing.path,
        "raw_path": outgoing.raw_path.encode("ascii"),
        "root_path": "",
        "query_string": urlencode(outgoing.query).encode("latin-1"),
        "headers": _headers(parent, outgoing),
        "client": parent.get("client"),
        "server": parent.get("server"),
        "state": {},
        OUTCOME_KEY: outcome,
        "app": parent.get("app"),
        "extensions": {},
    }


class Capture:
    """The ASGI ``receive``/``send`` pair of one dispatch: hands over the body once, keeps the response up to
    :data:`MAX_BODY` and tells a streaming handler the client has gone once it has that much."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.finished = asyncio.Event()
        self.sent_body = False
        self.status = 500
        self.headers: dict[str, list[str]] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    async def receive(self) -> Message:
        if not self.sent_body:
            self.sent_body = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            for raw_name, raw_value in message.get("headers", []):
                name = canonical_header_name(raw_name.decode("latin-1"))
                self.headers.setdefault(name, []).append(raw_value.decode("latin-1"))
        elif message["type"] == "http.response.body":
            self._keep(message.get("body", b""))
            if not message.get("more_body", False):
                self.finished.set()

    def _keep(self, data: bytes) -> None:
        room = max(0, MAX_BODY - self.size)
        if len(data) > room:
            self.truncated = True
            self.finished.set()  # tell a streaming handler the client has gone
        self.chunks.append(data[:room])
        self.size += min(len(data), room)

    def routing_error(self, exc: HTTPException) -> None:
        """The path is no longer routed (its group was disabled since): answer as the router would."""
        self.status = exc.status_code
        status = exc.status_code
        message = "no such endpoint" if status == 404 else "method not allowed" if status == 405 else str(exc.detail)
        self.headers = {"Content-Type": ["application/json"]}
        self.chunks = [json_bytes({"error": message})]


async def dispatch(
    router: ASGIApp,
    parent: Scope,
    outgoing: Outgoing,
    *,
    source: DispatchSource,
    identity: Identity | None,
    replayed_from: str | None = None,
    limit_seconds: float = TIMEOUT,
) -> DispatchResult:
    """Run ``outgoing`` through ``router`` as a new request; capture the response up to 1 MiB."""
    outcome = _outcome(parent, source, identity, replayed_from)
    capture = Capture(outgoing.body)
    try:
        await asyncio.wait_for(
            router(build_scope(parent, outgoing, outcome), capture.receive, capture.send), limit_seconds
        )
    except HTTPException as exc:
        capture.routing_error(exc)
    except TimeoutError:
        capture.truncated = True
    finally:
        capture.finished.set()
    return DispatchResult(
        status=capture.status,
        headers=capture.headers,
        body=b"".join(capture.chunks),
        body_truncated=capture.truncated,
        event_id=outcome.audit_event_id or None,
        target=outgoing.target,
    )
