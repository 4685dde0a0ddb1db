"""Audit capture of a WebSocket session: one row per session, written through the same writer.

The wrapper counts what passes its ``receive`` and ``send`` (messages and payload bytes each way), notes
how the handshake ended (``status`` 101 when accepted; the refusal's status when refused: 401/403, or 403
for a handshake closed before it was accepted, which is what the server answers then) and how the session
ended: the close code and who closed first (``server`` when the app sent ``websocket.close``, ``client``
when a ``websocket.disconnect`` arrived first; 1006 means the connection was lost without a close frame).

The row: ``method`` GET, ``status``, ``duration_ms`` (the whole session), ``bytes_in``/``bytes_out`` (message
payload bytes), identity and route as for HTTP, and ``details``: ``websocket`` = ``{messages_in,
messages_out, bytes_in, bytes_out, close_code, closed_by, accepted}``. A session is a success when it was
accepted and closed with 1000 (normal) or 1001 (going away). Request headers and query are captured
(redacted) when ``audit.capture_payloads`` and ``audit.capture_headers`` are on; message payloads are not.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest import logs
from apitest.audit.buffer import AuditWriter
from apitest.audit.capture import MAX_ERROR_MESSAGE, details_from, header, remote_addr
from apitest.audit.records import EventRecord, PayloadRecord
from apitest.audit.redaction import SKIPPED_REQUEST_HEADERS, Redactor, storable
from apitest.config import Settings
from apitest.failures import note_detail
from apitest.outcome import REJECTED_CATEGORIES, outcome_of
from apitest.registry import ROUTE_KEY, RouteSpec
from apitest.sensitive import sensitive_for

log = logs.get("audit")

NORMAL_CLOSES = (1000, 1001)
ABNORMAL = 1006  # no close frame: the connection was lost


def payload_size(message: Message) -> int:
    if message.get("bytes") is not None:
        return len(message["bytes"])
    return len((message.get("text") or "").encode("utf-8", "surrogatepass"))


class Session:
    """What one WebSocket session's messages showed."""

    def __init__(self) -> None:
        self.status = 0
        self.accepted = False
        self.messages_in = self.messages_out = 0
        self.bytes_in = self.bytes_out = 0
        self.close_code: int | None = None
        self.closed_by: str | None = None
        self.response_headers: list[tuple[bytes, bytes]] = []

    def wrap_receive(self, receive: Receive) -> Receive:
        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                self.messages_in += 1
                self.bytes_in += payload_size(message)
            elif message["type"] == "websocket.disconnect" and self.closed_by is None:
                self.closed_by, self.close_code = "client", int(message.get("code", ABNORMAL))
            return message

        return counting_receive

    def wrap_send(self, send: Send) -> Send:
        async def counting_send(message: Message) -> None:
            kind = message["type"]
            if kind == "websocket.send":
                self.messages_out += 1
                self.bytes_out += payload_size(message)
            elif kind == "websocket.accept":
                self.accepted, self.status = True, 101
            elif kind == "websocket.close" and self.closed_by is None:
                self.closed_by, self.close_code = "server", int(message.get("code", 1000))
                self.status = self.status or 403  # closed before accepting: the server refuses the handshake
            elif kind == "websocket.http.response.start":
                self.status = int(message["status"])
                self.response_headers = list(message.get("headers", []))
            await send(message)

        return counting_send

    def facts(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "close_code": self.close_code,
            "closed_by": self.closed_by,
        }


class WebSocketAuditMiddleware:
    """Records one row per WebSocket session into the audit ``writer``."""

    def __init__(self, app: ASGIApp, *, settings: Settings, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer
        audit = settings.audit
        self.capture_payloads = audit.capture_payloads
        self.capture_headers = audit.capture_headers
        self.include_rejected = audit.include_rejected
        keys = settings.api_keys
        self.redactor = Redactor(sensitive_for(audit.redact_keys, keys.header_name, keys.query_param_name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = self.writer
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        event_id = str(uuid.uuid4())
        outcome_of(scope).audit_event_id = event_id
        scope.setdefault("state", {})  # where the session facts go (note_detail)
        ts, started = datetime.now(UTC), time.perf_counter()
        session = Session()
        error: BaseException | None = None
        try:
            await self.app(scope, session.wrap_receive(receive), session.wrap_send(send))
        except BaseException as exc:
            error = exc
            raise
        finally:
            duration_ms = int((time.perf_counter() - started) * 1000)
            try:
                record = self.record(scope, session, error, event_id, ts, duration_ms)
            except Exception:
                log.exception("websocket audit capture failed", extra={"path": scope.get("path", "")})
                writer.discard("capture failed")
            else:
                if record is not None:
                    writer.offer(record)  # a session ends once: no backpressure

    def outcome(
        self, scope: Scope, session: Session, error: BaseException | None
    ) -> tuple[bool, str | None, str | None]:
        outcome = outcome_of(scope)
        category: str | None = outcome.error_category
        message = outcome.error_message
        if error is not None:
            return False, category or "internal_error", message or f"{type(error).__name__}: {error}"
        if category is not None:
            return False, category, message
        if not session.accepted:
            return False, "bad_request", message or "handshake refused"
        if session.close_code in NORMAL_CLOSES:
            return True, None, None
        if session.closed_by == "client":
            return False, "client_disconnected", f"client closed the session with code {session.close_code}"
        return False, "fault_injected", f"server closed the session with code {session.close_code} (requested)"

    def record(
        self,
        scope: Scope,
        session: Session,
        error: BaseException | None,
        event_id: str,
        ts: datetime,
        duration_ms: int,
    ) -> EventRecord | None:
        state: dict[str, Any] = scope.get("state", {})
        success, category, message = self.outcome(scope, session, error)
        if not self.include_rejected and category in REJECTED_CATEGORIES:
            return None
        note_detail(scope, "websocket", session.facts() | {"duration_ms": duration_ms})
        identity = outcome_of(scope).identity
        spec = scope.get(ROUTE_KEY)
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        record = EventRecord(
            id=event_id,
            ts=ts,
            method="GET",
            path=storable(scope["path"]),
            status=session.status or (500 if error is not None else 403),
            success=success,
            duration_ms=duration_ms,
            request_id=outcome_of(scope).request_id or None,
            user_subject=(identity.subject or None) if identity else None,
            user_email=(identity.email or None) if identity else None,
            auth_type=identity.auth_type if identity else None,
            api_key_name=(identity.key_name or None) if identity else None,
            route_name=spec.name if isinstance(spec, RouteSpec) else None,
            endpoint_group=spec.group if isinstance(spec, RouteSpec) else None,
            bytes_in=session.bytes_in,
            bytes_out=session.bytes_out,
            error_message=storable(str(message))[:MAX_ERROR_MESSAGE] if message else None,
            error_category=category,
            remote_addr=remote_addr(scope),
            user_agent=header(headers, b"user-agent"),
            source="wire",
            details=details_from(state),
        )
        if self.capture_payloads and self.capture_headers:
            record.payload = PayloadRecord(
                request_headers=self.redactor.headers(headers, SKIPPED_REQUEST_HEADERS),
                request_query=self.redactor.query(scope.get("query_string", b"")),
                request_remote_addr=record.remote_addr,
                response_headers=self.redactor.headers(session.response_headers) if session.response_headers else None,
            )
        return record
