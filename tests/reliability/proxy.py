"""A TCP proxy on 127.0.0.1 between apitest and PostgreSQL, whose outage looks to the app like a stopped database.

The PostgreSQL server is shared, so the tests never stop it: :meth:`TcpProxy.outage` aborts every proxied
connection (both sides reset, as when a server dies) and stops listening (new connections are refused, as
when nothing listens on the port); :meth:`TcpProxy.restore` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0  # connections taken while up
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Transport] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def up(self) -> bool:
        return self._server is not None

    def outage(self) -> int:
        """Kill every proxied connection and refuse new ones; returns how many connections were killed."""
        killed: int = self._call(self._shutdown())
        return killed

    def restore(self) -> None:
        self._call(self._listen())

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> int:
        killed = 0
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._links):
            transport.abort()
            killed += 1
        self._links.clear()
        return killed // 2  # two transports per proxied connection

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._server is None:
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.accepted += 1
        transports = {client_writer.transport, upstream_writer.transport}
        self._links |= transports  # type: ignore[arg-type]
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            self._links -= transports  # type: ignore[arg-type]
            for writer in (client_writer, upstream_writer):
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            if not writer.transport.is_closing() and writer.can_write_eof():
                writer.write_eof()
