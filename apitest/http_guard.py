"""uvicorn's httptools protocol with the two request-head guards Go's ``net/http`` server has and uvicorn lacks.

- ``server.read_header_timeout`` (Go's ``ReadHeaderTimeout``): a connection that has not delivered a complete
  request head that long after it opened, or after the first byte of a request arrived, is closed. uvicorn
  only times out idle keep-alive connections, so a slow-loris client (or one that connects and says nothing)
  otherwise holds a connection forever.
- :data:`MAX_HEADER_BYTES` (Go's ``DefaultMaxHeaderBytes``, 1 MiB): a request head growing past it is answered
  431 and the connection closed. httptools buffers a header until its end, so without a cap one endless header
  line grows the worker's memory without bound (and would then be copied into the audit payload).

It also keeps what uvicorn's scope loses: the request-target exactly as received and the header names as sent
(uvicorn lowercases them), handed to the app as ``scope["extensions"]["apitest.raw"]`` (an
:class:`apitest.wirehead.RawHead`, with the request-body bytes received and the response cycle, whose
``disconnected`` tells the audit whether the client stayed for the whole response).

The header deadline is uvicorn's ``timeout_keep_alive``, which ``apitest.server`` sets from
``server.read_header_timeout``; it is armed only while a request head is incomplete after a read, so a request
whose head arrives in one read costs no timer.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from apitest.http10 import close_delimited
from apitest.wirehead import RAW_KEY, RawHead

MAX_HEADER_BYTES = 1 << 20
LINGER_SECONDS = 0.5  # Go's closeWriteAndWait waits this long before closing a refused connection
TOO_LARGE_BODY = b'{"error":"request header fields too large"}\n'
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(TOO_LARGE_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + TOO_LARGE_BODY
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = float(self.timeout_keep_alive)
        self._in_head = True  # a request head is expected or partly read
        self._head_bytes = 0  # bytes read while the head was incomplete: bounds what httptools buffers
        self._head_size = 0  # request line and header bytes of the current head, as parsed
        self._head_timer: TimerHandle | None = None
        self._discarding = False  # answered 431: reading and dropping input until the lingering close
        self._names: list[bytes] = []  # header names of the current head, as sent
        self._raw: RawHead | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if not self._in_head or self._discarding or self.transport.is_closing():
            return
        if self._head_bytes > self.max_header_bytes:
            self._refuse_head()
        elif self._head_timer is None:
            self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = 0
        self._names = []
        self._raw = None

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._names.append(name)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        if self._head_size > self.max_header_bytes:
            self._refuse_head()  # the head ended within the read that took it over the cap
            return
        super().on_headers_complete()
        if self.cycle is None or self.cycle.scope is not self.scope:
            return
        self._raw = RawHead(self.url, self._names, cycle=self.cycle)
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RAW_KEY] = self._raw
        if self.scope.get("http_version") == "1.0":
            close_delimited(self.cycle)  # no chunked framing for an HTTP/1.0 client

    def on_body(self, body: bytes) -> None:
        if not self._discarding:
            if self._raw is not None:
                self._raw.received += len(body)
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._discarding:
            super().on_message_complete()

    def _refuse_head(self) -> None:
        """Answer 431, then close the way Go does: shut our side, keep reading (and dropping) what the client is
        still sending for a moment, then close. Closing at once with unread input makes the kernel send a reset,
        which can destroy the 431 before the client reads it."""
        self._cancel_head_timer()
        self._discarding = True
        self.transport.write(TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _arm_head_timer(self) -> None:
        if self.header_timeout > 0:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()
