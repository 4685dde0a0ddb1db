"""What the client sent and received, and when: the wire side of an audit row.

:class:`WireClock` wraps the ``receive`` and ``send`` of one audited request (inside the payload tee, so its
clock is the one closest to the socket) and observes:

- ``ttfb_ms``: when the response head was handed to the server (its first byte), in ms since the request
  started;
- ``chunk_offsets``: for a streamed response (more than one non-empty body message), the send offset of each
  of the first :data:`MAX_CHUNKS` body chunks, in ms since the request started;
- ``bytes_out``: body bytes handed to the server while the client was still there;
- ``bytes_in``: the request-body bytes the client sent: what the handler read when it read the body to its
  end, else the declared ``Content-Length`` (a handler that answers without reading, or stops early),
  else the bytes the protocol received;
- ``client_complete``: whether the whole response went out to a client that was still connected;

and adds the ``Apitest-Event-Id`` response header (the audit row's id) to the response head.
"""

from __future__ import annotations

import time

from starlette.types import Message, Receive, Scope, Send

from apitest.wirehead import raw_head

EVENT_ID_HEADER = b"apitest-event-id"
MAX_CHUNKS = 1000


def ms(seconds: float) -> float:
    """Seconds as milliseconds rounded to the microsecond."""
    return round(seconds * 1000, 3)


class WireClock:
    __slots__ = (
        "started",
        "event_id",
        "head_at",
        "offsets",
        "chunks",
        "written",
        "read",
        "body_done",
        "finished",
        "cycle",
        "received",
        "headers",
        "head",
    )

    def __init__(self, scope: Scope, event_id: str, started: float) -> None:
        self.started = started
        self.event_id = event_id.encode("ascii")
        self.head_at: float | None = None
        self.offsets: list[float] = []
        self.chunks = 0
        self.written = 0
        self.read = 0
        self.body_done = False
        self.finished = False
        head = raw_head(scope)
        self.cycle = head.cycle if head is not None else None
        self.received = head if head is not None else None
        self.headers = scope.get("headers", ())  # Content-Length is looked up only when needed
        self.head = scope.get("method") == "HEAD"  # the server drops a HEAD response's body

    def _client_gone(self) -> bool:
        return bool(self.cycle is not None and getattr(self.cycle, "disconnected", False))

    def on_receive(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_done = True

    async def send(self, message: Message, send: Send) -> None:
        """Pass ``message`` to ``send`` (the server's), adding the event id header to the head and timing it."""
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", ()))
            headers.append((EVENT_ID_HEADER, self.event_id))
            message = {**message, "headers": headers}
            gone = self._client_gone()
            await send(message)
            if not gone:
                self.head_at = time.perf_counter()
            return
        if kind == "http.response.body":
            body = message.get("body", b"")
            gone = self._client_gone()
            await send(message)
            if body and not gone and not self.head:
                self.written += len(body)
                self.chunks += 1
                if len(self.offsets) < MAX_CHUNKS:
                    self.offsets.append(ms(time.perf_counter() - self.started))
            if not message.get("more_body", False) and not gone and not self._client_gone():
                self.finished = True
            return
        await send(message)

    def wrap_receive(self, receive: Receive) -> Receive:
        async def clocked_receive() -> Message:
            message = await receive()
            self.on_receive(message)
            return message

        return clocked_receive

    def wrap_send(self, send: Send) -> Send:
        async def clocked_send(message: Message) -> None:
            await self.send(message, send)

        return clocked_send

    @property
    def ttfb_ms(self) -> float | None:
        return ms(self.head_at - self.started) if self.head_at is not None else None

    @property
    def chunk_offsets(self) -> list[float] | None:
        return self.offsets if self.chunks > 1 else None

    def bytes_in(self) -> int:
        if self.body_done:
            return self.read
        declared = declared_length(self.headers)
        if declared is not None:
            return max(self.read, declared)
        return max(self.read, self.received.received if self.received is not None else 0)

    def client_complete(self, complete: bool, disconnected: bool) -> bool:
        """The whole response reached a client that was still there (``complete`` / ``disconnected`` are the
        payload tee's view, which is all there is without the production protocol)."""
        if self.cycle is not None:
            return self.finished and complete and not self._client_gone()
        return complete and not disconnected


def declared_length(headers: object) -> int | None:
    for name, value in headers:  # type: ignore[attr-defined]
        if name == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() and len(text) < 19 else None
    return None
