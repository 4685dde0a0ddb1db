"""Audit capture: the outermost stage of the ``/v1`` pipeline.

For every request it tees the request-body messages the handler reads and the response messages it
sends into capped buffers (nothing is delayed or copied beyond ``audit.max_payload_bytes``), and when the
handler returns (for a stream, when the stream ends or the client goes away) builds one
:class:`EventRecord` and hands it to the writer with a non-blocking ``offer``. The request path never
awaits the database.

The event id is assigned here (UUIDv4) and published as the request outcome's ``audit_event_id``
(:mod:`apitest.outcome`), so the portal's replay can link to the row it caused. Identity,
``error_category`` / ``error_message``, ``dispatch_source`` and ``replayed_from`` are read from the same
outcome after the inner stages ran.

Sizes: ``bytes_in`` and ``request_size_bytes`` are the request-body bytes the application read, and
``bytes_out`` and ``response_size_bytes`` the response-body bytes it sent; all four are true totals,
never capped, and counted even when payload capture is off. The stored bodies are prefixes of at most
``max_payload_bytes`` with ``*_truncated`` set when more was seen.

Hostile input: every text field is made storable here, once (:mod:`apitest.storable`: NUL and lone
surrogates become the visible escapes ``\\x00`` / ``\\ud800``), and bounded: request headers and the query
at ``audit.max_header_bytes``, the path at :data:`MAX_PATH_BYTES`, identity fields at
:data:`MAX_IDENTITY_BYTES`; a request refused by auth keeps at most ``audit.rejected_payload_bytes`` of each
payload part. Every cut is flagged in ``details`` (``request_headers_truncated``, ``path_truncated``...).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest import logs
from apitest.audit import wire
from apitest.audit.buffer import AuditWriter
from apitest.audit.raw import RawCapture
from apitest.audit.records import EventRecord, PayloadRecord
from apitest.audit.redaction import SKIPPED_REQUEST_HEADERS, Redactor
from apitest.audit.timing import WireClock
from apitest.auth.evidence import EvidenceReader, Fingerprinter
from apitest.config import Settings
from apitest.failures import AUDIT_DETAILS_KEY as AUDIT_DETAILS_KEY  # re-exported: routes import it from here
from apitest.identity import Identity
from apitest.ids import random_uuid4
from apitest.outcome import REJECTED_CATEGORIES, SOURCES, RequestOutcome, outcome_of
from apitest.registry import ROUTE_KEY, RouteSpec
from apitest.sensitive import sensitive_for
from apitest.storable import decode, storable, storable_value

log = logs.get("audit")

MAX_DETAILS = 64  # most keys kept from a details dict
MAX_DETAIL_TEXT = 2000  # longest string value kept
MAX_ERROR_MESSAGE = 2000
# Indexed text columns: PostgreSQL refuses a B-tree entry over ~2.7 kB, and a fixture has no use for more.
MAX_PATH_BYTES = 2048
MAX_IDENTITY_BYTES = 512  # user_subject, user_email, api_key_name
MAX_HEADER_FIELD_BYTES = 1024  # user_agent, content types
CLIENT_CLOSED = 499  # nginx's "client closed request": the status of a request abandoned before its response
DEFAULT_CATEGORIES = {
    400: "bad_request",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
}


class Tee:
    """A capped copy of a body stream: the first ``cap`` bytes, the true total, and whether more was seen."""

    __slots__ = ("cap", "data", "total", "truncated")

    def __init__(self, cap: int | None) -> None:
        self.cap = cap  # None: count only
        self.data = bytearray()
        self.total = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.total += len(chunk)
        if self.cap is None:
            return
        room = self.cap - len(self.data)
        if len(chunk) <= room:
            self.data += chunk
        else:
            if room > 0:
                self.data += chunk[:room]
            self.truncated = True

    def body(self) -> bytes | None:
        return bytes(self.data) if self.data else None


class Exchange:
    """What the wrapped ``receive`` and ``send`` observed of one request."""

    def __init__(self, cap: int | None, *, head: bool = False) -> None:
        self.head = head  # a HEAD response's body never reaches the client (the server drops it)
        self.request = Tee(cap)
        self.response = Tee(cap)
        self.status = 0
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.started = False  # http.response.start sent
        self.complete = False  # final http.response.body sent
        self.client_left = False  # http.disconnect received before the response was complete
        self.reserved = False  # a place in the audit buffer is held for this exchange's event
        self.error: BaseException | None = None

    def on_receive(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.request.add(message.get("body", b""))
        elif message["type"] == "http.disconnect" and not self.complete:
            self.client_left = True

    def on_send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            self.response_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            if not self.head:
                self.response.add(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True

    def wrap_receive(self, receive: Receive) -> Receive:
        async def tee_receive() -> Message:
            message = await receive()
            self.on_receive(message)
            return message

        return tee_receive

    def wrap_send(self, send: Send) -> Send:
        async def tee_send(message: Message) -> None:
            self.on_send(message)
            await send(message)

        return tee_send

    @property
    def disconnected(self) -> bool:
        """The response did not finish because the client went away (or the request task was cancelled)."""
        if self.complete:
            return False
        return self.client_left or isinstance(self.error, OSError | asyncio.CancelledError)


def clip(text: str, max_bytes: int) -> tuple[str, bool]:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (never inside a character); whether it was cut."""
    if len(text) * 4 <= max_bytes or len(text.encode("utf-8", "surrogatepass")) <= max_bytes:
        return text, False
    return text.encode("utf-8", "surrogatepass")[:max_bytes].decode("utf-8", "ignore"), True


def header(raw: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in raw:
        if key.lower() == name:
            return clip(decode(value), MAX_HEADER_FIELD_BYTES)[0]
    return None


def detail_value(value: Any) -> Any:
    """A JSON-safe, storable, bounded copy of one details value (nested one level for lists and dicts)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return storable_value(value)
    if isinstance(value, list | tuple):
        return [detail_value(v) if not isinstance(v, list | tuple | dict) else str(v) for v in value[:MAX_DETAILS]]
    if isinstance(value, dict):
        return {storable(str(k))[:200]: detail_value(v) for k, v in list(value.items())[:MAX_DETAILS]}
    return storable(str(value)[:MAX_DETAIL_TEXT])


def details_from(state: dict[str, Any]) -> dict[str, Any] | None:
    """The ``audit_details`` a route left in the request state, made storable and bounded; None when empty."""
    raw = state.get(AUDIT_DETAILS_KEY)
    if not isinstance(raw, dict) or not raw:
        return None
    return {storable(str(k)[:200]): detail_value(v) for k, v in list(raw.items())[:MAX_DETAILS]}


def identity_field(text: str, flags: dict[str, Any], name: str) -> str | None:
    """An identity value (from a token or a key store) as stored: storable, bounded, flagged when cut."""
    if not text:
        return None
    kept, cut = clip(storable(text), MAX_IDENTITY_BYTES)
    if cut:
        flags[f"{name}_truncated"] = True
    return kept


def remote_addr(scope: Scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def observed(
    exchange: Exchange,
    clock: WireClock,
    receive: Receive,
    send: Send,
    writer: AuditWriter | None = None,
) -> tuple[Receive, Send]:
    """One ``receive`` and one ``send`` wrapper feeding both the payload tee (the handler's view: headers
    before ``Apitest-Event-Id``) and the wire clock (the socket's view), instead of two nested wrappers.
    With a ``writer``, a place in its buffer is held (:meth:`AuditWriter.reserve`) before the last message of
    the response is passed on, so a full buffer holds the client back rather than piling events up."""

    async def audited_receive() -> Message:
        message = await receive()
        exchange.on_receive(message)
        clock.on_receive(message)
        return message

    async def audited_send(message: Message) -> None:
        exchange.on_send(message)
        if writer is not None and exchange.complete and not exchange.reserved:
            exchange.reserved = await writer.reserve()
        await clock.send(message, send)

    return audited_receive, audited_send


def settle(category: str | None, message: str | None, exchange: Exchange) -> tuple[int, str | None, str | None]:
    """The row's status, error category and message: what the stages noted, else what the exchange shows
    (a client that left, an exception, an unfinished response), else derived from the status."""
    status = exchange.status
    if exchange.disconnected:
        status = status or CLIENT_CLOSED
        category = category or "client_disconnected"
        message = message or (
            f"client disconnected after {exchange.response.total} response bytes"
            if exchange.started
            else "client disconnected before the response started"
        )
    elif exchange.error is not None:
        status = status or 500
        category = category or "internal_error"
        message = message or f"{type(exchange.error).__name__}: {exchange.error}"
    elif not exchange.complete:
        status = status or 500
        category = category or "internal_error"
        message = message or (
            "handler returned before completing the response"
            if exchange.started
            else "handler returned without a response"
        )
    if category is None and status >= 500:
        return status, "server_error", message or f"handler answered {status}"
    if category is None:
        return status, DEFAULT_CATEGORIES.get(status), message
    return status, category, message


def base_record(
    scope: Scope, exchange: Exchange, event_id: str, ts: datetime, duration_ms: float, flags: dict[str, Any]
) -> EventRecord:
    """The fields read from the scope and the exchange alone (status and outcome fields are set after)."""
    spec = scope.get(ROUTE_KEY)
    routed = spec if isinstance(spec, RouteSpec) else None
    path, path_cut = clip(storable(scope["path"]), MAX_PATH_BYTES)
    if path_cut:
        flags["path_truncated"] = True
    return EventRecord(
        id=event_id,
        ts=ts,
        method=storable(scope["method"])[:32],
        path=path,
        status=0,
        success=False,
        duration_ms=duration_ms,
        route_name=routed.name if routed else None,
        endpoint_group=routed.group if routed else None,
        bytes_in=exchange.request.total,
        bytes_out=exchange.response.total,
        remote_addr=remote_addr(scope),
        user_agent=header(scope.get("headers", []), b"user-agent"),
        details=details_from(scope.get("state", {})),
    )


def set_identity(record: EventRecord, identity: Identity, flags: dict[str, Any]) -> None:
    record.user_subject = identity_field(identity.subject, flags, "user_subject")
    record.user_email = identity_field(identity.email, flags, "user_email")
    record.auth_type = identity.auth_type
    record.api_key_name = identity_field(identity.key_name, flags, "api_key_name")


class AuditMiddleware:
    """Records every request of the ``/v1`` pipeline into the audit ``writer``."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, writer: AuditWriter, fingerprints: Fingerprinter | None = None
    ) -> None:
        self.app = app
        self.writer = writer
        audit = settings.audit
        keys = settings.api_keys  # credentials of requests auth never saw (no_route, scope all)
        self.evidence = EvidenceReader(
            fingerprints or Fingerprinter(), header_name=keys.header_name, query_name=keys.query_param_name
        )
        self.capture_payloads = audit.capture_payloads
        self.capture_headers = audit.capture_headers
        self.cap = max(0, audit.max_payload_bytes)
        self.include_rejected = audit.include_rejected
        self.max_header_bytes = max(0, audit.max_header_bytes)
        self.rejected_cap = max(0, audit.rejected_payload_bytes)
        self.redactor = Redactor(sensitive_for(audit.redact_keys, keys.header_name, keys.query_param_name))
        self.raw = RawCapture(self.redactor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        writer = self.writer
        spec = scope.get(ROUTE_KEY)
        if isinstance(spec, RouteSpec) and not spec.audited:
            await self.app(scope, receive, send)
            return
        event_id = random_uuid4()
        outcome_of(scope).audit_event_id = event_id
        scope.setdefault("state", {})  # where routes leave their audit details (apitest.failures.note_detail)
        ts = datetime.now(UTC)
        started = time.perf_counter()
        exchange = Exchange(self.cap if self.capture_payloads else None, head=scope["method"] == "HEAD")
        clock = WireClock(scope, event_id, started)  # adds Apitest-Event-Id; times the head and the chunks
        try:
            await self.app(scope, *observed(exchange, clock, receive, send, writer))
        except BaseException as exc:
            exchange.error = exc
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            try:
                record = self.record(scope, exchange, event_id, ts, duration_ms)
                if record is not None:
                    self.fill_wire(record, scope, clock, exchange)
            except Exception:
                log.exception("audit capture failed", extra={"path": scope.get("path", "")})
                writer.discard("capture failed")
                record = None
            if record is not None:
                await writer.put(record, reserved=exchange.reserved)
            elif exchange.reserved:
                writer.release()

    def fill_wire(self, record: EventRecord, scope: Scope, clock: WireClock, exchange: Exchange) -> None:
        """The wire-exact fields; a failure there keeps the row (flagged), never loses it."""
        try:
            rejected = record.error_category in REJECTED_CATEGORIES
            limit = min(self.max_header_bytes, self.rejected_cap) if rejected else self.max_header_bytes
            wire.fill(record, scope, self.raw, clock, self.evidence, exchange.complete, exchange.disconnected, limit)
        except Exception:
            log.exception("audit wire capture failed", extra={"path": record.path})
            record.details = {**(record.details or {}), "wire_capture_failed": True}

    def record(
        self, scope: Scope, exchange: Exchange, event_id: str, ts: datetime, duration_ms: float
    ) -> EventRecord | None:
        """The row of one finished exchange, or None when ``audit.include_rejected`` leaves it out."""
        outcome = outcome_of(scope)
        if not self.include_rejected and outcome.error_category in REJECTED_CATEGORIES:
            return None
        status, category, message = settle(outcome.error_category, outcome.error_message, exchange)
        flags: dict[str, Any] = {}  # facts about what capture cut, merged into details
        record = base_record(scope, exchange, event_id, ts, duration_ms, flags)
        record.status = status
        record.success = 200 <= status < 400 and exchange.complete and exchange.error is None
        record.request_id = outcome.request_id or None
        record.error_message = storable(str(message)[:MAX_ERROR_MESSAGE]) if message else None
        record.error_category = storable(str(category))[:64] if category else None
        record.source = outcome.dispatch_source if outcome.dispatch_source in SOURCES else "wire"
        if outcome.identity is not None:
            set_identity(record, outcome.identity, flags)
        if self.capture_payloads:
            rejected = category in REJECTED_CATEGORIES
            record.payload = self.payload(scope, exchange, outcome, record.remote_addr, flags, rejected=rejected)
        if flags:
            record.details = {**(record.details or {}), **flags}
        return record

    def payload(
        self,
        scope: Scope,
        exchange: Exchange,
        outcome: RequestOutcome,
        remote: str | None,
        flags: dict[str, Any],
        *,
        rejected: bool = False,
    ) -> PayloadRecord:
        """The stored payload. A request refused by auth stores at most ``audit.rejected_payload_bytes`` of each
        part, so hostile unauthenticated traffic costs little; header maps are capped at
        ``audit.max_header_bytes`` either way. Every cut is flagged (``*_truncated``)."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        replayed_from = outcome.replayed_from
        cap = min(self.max_header_bytes, self.rejected_cap) if rejected else self.max_header_bytes
        request_headers = response_headers = query = None
        if self.capture_headers:
            found = self.redactor.header_map(headers, SKIPPED_REQUEST_HEADERS, cap)
            request_headers = found.values
            if found.truncated:
                flags["request_headers_truncated"] = True
            query_string: bytes = scope.get("query_string", b"")
            query = self.redactor.query(query_string, cap)
            if len(query_string) > cap:
                flags["request_query_truncated"] = True
            response_headers = self.redactor.header_map(exchange.response_headers, cap=self.max_header_bytes).values
        request_body, request_cut = exchange.request.body(), exchange.request.truncated
        response_body, response_cut = exchange.response.body(), exchange.response.truncated
        if rejected:
            if request_body is not None and len(request_body) > self.rejected_cap:
                request_body, request_cut = request_body[: self.rejected_cap] or None, True
            if response_body is not None and len(response_body) > self.rejected_cap:
                response_body, response_cut = response_body[: self.rejected_cap] or None, True
        return PayloadRecord(
            request_headers=request_headers,
            request_query=query,
            request_content_type=header(headers, b"content-type"),
            request_body=request_body,
            request_size_bytes=exchange.request.total,
            request_truncated=request_cut,
            request_remote_addr=remote,
            response_headers=response_headers,
            response_content_type=header(exchange.response_headers, b"content-type"),
            response_body=response_body,
            response_size_bytes=exchange.response.total,
            response_truncated=response_cut,
            replayed_from=str(replayed_from) if replayed_from else None,
        )
