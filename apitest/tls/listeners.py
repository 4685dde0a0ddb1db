"""TLS listeners in the server's own process: the ``server.tls`` port and the lab ports (docs/tls.md).

How it works:

- **Same process, same app.** Every listener is an accept loop on the uvicorn server's event loop, handing
  each connection to the same protocol class and app as the main port (so the same audit writer, metrics and
  graceful shutdown: the listeners sit in ``Server.servers``, their connections in ``server_state``). With
  ``--workers N`` the supervisor binds every port once and each worker runs every listener on the shared
  sockets, as it does for the main port.
- **Plain HTTP on a TLS port.** Before the handshake the loop peeks (``MSG_PEEK``) at the first bytes. A TLS
  connection starts with a handshake record (``0x16``); anything else that looks like an HTTP request line is
  logged as one WARN line with the fix and answered ``400`` with nginx's text ("The plain HTTP request was
  sent to HTTPS port"); the socket is then closed. The opposite mistake, a ClientHello on a plain port, is
  caught by :class:`TLSAwareProtocol` on every connection's first bytes.
- **The client certificate reaches the app** through the ASGI ``tls`` extension, which uvicorn does not
  implement: :class:`TLSAwareProtocol` reads the verified peer certificate from the transport's
  ``ssl_object`` once per connection and adds ``scope["extensions"]["tls"]`` (``client_cert_chain`` holds the
  leaf as PEM: Python's ``ssl`` exposes only the peer's leaf) to every request on it;
  :func:`apitest.tls.peer.publish_client_certificate` turns that into ``/v1/whoami``'s ``client_certificate`` and
  the audit row's details.
- **Handshake failures** (a gateway without a client certificate on ``mtls-required``, a gateway refusing a
  broken certificate) are logged at INFO with the listener name and OpenSSL's reason; the client sees them
  as the handshake error the lab table lists (:mod:`apitest.tls.lab`).

References: ASGI TLS extension (asgiref docs, "TLS Extension"); RFC 8446 section 5.1 (record content
type 22 = handshake); nginx's ``ngx_http_request.c`` (the 497 "plain HTTP request was sent to HTTPS port").
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from asyncio import sslproto
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apitest import logs
from apitest.http_guard import GuardedHttpToolsProtocol

log = logs.get("tls")

PEEK_BYTES = 8
TLS_HANDSHAKE = 0x16  # TLS record content type "handshake": the first byte of every ClientHello
HTTP_METHODS = (b"GET ", b"HEAD", b"POST", b"PUT ", b"PATC", b"DELE", b"OPTI", b"CONN", b"TRAC", b"PRI ")
LINGER_SECONDS = 0.5
PLAIN_ON_TLS_BODY = b"The plain HTTP request was sent to HTTPS port\n"
PLAIN_ON_TLS = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(PLAIN_ON_TLS_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + PLAIN_ON_TLS_BODY
)
PLAIN_ON_TLS_FIX = (
    "the client sent plain HTTP to a TLS port: use https:// for this upstream, or point http:// at a plain port"
)
TLS_ON_PLAIN_FIX = (
    "the client started a TLS handshake on a plain-HTTP port: use http:// for this upstream "
    "(or turn on server.tls / use a tls_lab port for https://)"
)
TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def looks_like_tls(first: bytes) -> bool:
    return len(first) >= 2 and first[0] == TLS_HANDSHAKE and first[1] == 0x03


def looks_like_http(first: bytes) -> bool:
    return first[:4] in HTTP_METHODS


def tls_extension(ssl_object: Any) -> dict[str, Any]:
    """The ASGI ``tls`` extension of one connection, from its ``ssl.SSLObject``."""
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # Python's ssl names the suite but does not give its IANA number
    }


class TLSAwareProtocol(GuardedHttpToolsProtocol):
    """The server's HTTP protocol plus the ASGI ``tls`` extension and ClientHello-on-a-plain-port detection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls: dict[str, Any] | None = None
        self._first = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._tls = tls_extension(ssl_object)
            self._first = False

    def data_received(self, data: bytes) -> None:
        if self._first:
            self._first = False
            if looks_like_tls(data):
                sockname = self.transport.get_extra_info("sockname")
                log.warning(
                    "TLS handshake on a plain-HTTP port",
                    extra={"port": sockname[1] if sockname else None, "peer": self.client, "fix": TLS_ON_PLAIN_FIX},
                )
                self.transport.close()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions["tls"] = self._tls


class AlertingSSLProtocol(sslproto.SSLProtocol):
    """The standard library's TLS-over-a-transport protocol, sending OpenSSL's alert when a handshake fails.

    asyncio (and uvloop) close the connection on a failed server-side handshake without writing the alert
    OpenSSL produced, so a client without a certificate on ``mtls-required`` would see an empty reply instead of
    "tlsv13 alert certificate required". Flushing the outgoing buffer first sends it.
    """

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            with contextlib.suppress(Exception):
                self._process_outgoing()  # type: ignore[attr-defined]
        super()._on_handshake_complete(handshake_exc)


@dataclass
class ListenerSpec:
    """One TLS port: its name (``main`` or a lab listener's), its bound socket and how to make its context."""

    name: str
    sock: socket.socket
    context: Callable[[], ssl.SSLContext]


class TLSListener:
    """An accept loop for one TLS port; ``close``/``wait_closed`` like ``asyncio.Server`` so uvicorn stops it."""

    def __init__(
        self,
        name: str,
        sock: socket.socket,
        context: ssl.SSLContext,
        protocol_factory: Callable[[], asyncio.Protocol],
        *,
        handshake_timeout: int = 10,
    ) -> None:
        self.name = name
        self.sock = sock
        self.context = context
        self.protocol_factory = protocol_factory
        self.handshake_timeout = handshake_timeout
        self.port = int(sock.getsockname()[1])
        self._accepting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.sock.setblocking(False)
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop(), name=f"tls-{self.name}")

    def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._pending):
            task.cancel()

    async def wait_closed(self) -> None:
        tasks = [t for t in (self._accepting, *self._pending) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(self.sock)
            except OSError as exc:  # EMFILE and friends: keep the listener alive
                log.warning("accept failed", extra={"listener": self.name, "error": str(exc)})
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._connection(conn, peer))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _connection(self, conn: socket.socket, peer: Any) -> None:
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        try:
            first = await asyncio.wait_for(self._peek(conn), self.handshake_timeout)
        except (TimeoutError, OSError):
            conn.close()
            return
        if not looks_like_tls(first):
            await self._refuse_plain(conn, peer, first)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        tls = AlertingSSLProtocol(
            loop,
            self.protocol_factory(),
            self.context,
            waiter,
            server_side=True,
            ssl_handshake_timeout=self.handshake_timeout,
        )
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: tls, conn)
        except OSError:
            conn.close()
            return
        try:
            await waiter
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            log.info(
                "TLS handshake failed",
                extra={"listener": self.name, "port": self.port, "peer": _peer(peer), "error": _reason(exc)},
            )
            transport.close()

    async def _peek(self, conn: socket.socket) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            try:
                return conn.recv(PEEK_BYTES, socket.MSG_PEEK)
            except BlockingIOError:
                readable: asyncio.Future[None] = loop.create_future()
                loop.add_reader(conn.fileno(), _resolve, readable)
                try:
                    await readable
                finally:
                    loop.remove_reader(conn.fileno())

    async def _refuse_plain(self, conn: socket.socket, peer: Any, first: bytes) -> None:
        if not looks_like_http(first):
            conn.close()  # not TLS, not HTTP (or the client closed): nothing worth answering
            return
        log.warning(
            "plain HTTP request on a TLS port",
            extra={"listener": self.name, "port": self.port, "peer": _peer(peer), "fix": PLAIN_ON_TLS_FIX},
        )
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(loop.sock_sendall(conn, PLAIN_ON_TLS), LINGER_SECONDS)
            conn.shutdown(socket.SHUT_WR)
            # Read and drop what the client still sends for a moment: closing with unread input sends a reset
            # that can destroy the 400 before the client reads it.
            async with asyncio.timeout(LINGER_SECONDS):
                while await loop.sock_recv(conn, 65536):
                    pass
        conn.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.library or 'SSL'}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv6 when ``host`` is an IPv6 address), SO_REUSEADDR like uvicorn's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
