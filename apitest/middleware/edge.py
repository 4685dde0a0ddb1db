"""The edge of the server: every stage each HTTP request passes before routing, in one ASGI layer.

One call and one ``send`` wrapper per request, where there were nine middleware classes (connection guard,
request id, client certificate, response observer, isolation, CORS, errors, body limit, and Starlette's own
server-error and exception middleware), each with its own call and ``send`` wrapper. Profiling showed the
layering itself, not any one stage, was most of the cost of an un-audited request (docs/performance.md,
"The edge"). The stages are the same and in the same order; their rules live in their own modules, which this
one calls:

1. the client connection for the fault endpoints (:mod:`apitest.middleware.connection`);
2. ``X-Request-Id``: a well-formed client id is kept, otherwise a UUIDv4 (:mod:`apitest.middleware.request_id`);
3. the mutual-TLS client certificate, when the request has one (``on_tls``, :mod:`apitest.tls.peer`);
4. the outcome the access log line and the request metrics read when the response ends
   (:mod:`apitest.middleware.observe`);
5. isolation: the ``Host`` allow-list on the portal and admin paths (421), the sandbox headers on everything
   else outside ``/portal`` and ``/docs`` (:mod:`apitest.middleware.isolation`);
6. CORS: preflights answered with 204, the CORS headers on other responses (:mod:`apitest.middleware.cors`);
7. an unhandled exception as the internal-error envelope (:mod:`apitest.middleware.errors`), a Starlette
   ``HTTPException`` (a router miss) through the app's handler;
8. the request body limit on ``receive`` (:mod:`apitest.middleware.body_limit`).

Every response, the ones this layer writes itself (421, 204 preflight, 413, 500) included, passes the one
``send`` wrapper, which records the status and body size and adds the request id, sandbox and CORS headers to
the start message in a single pass over its headers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest.config.hosts import host_name
from apitest.http_guard import VALIDATED_TAIL, valid_header
from apitest.ids import random_uuid4
from apitest.metrics import Metrics
from apitest.middleware.body_limit import PayloadTooLarge, send_payload_too_large
from apitest.middleware.connection import TRANSPORT_KEY, server_transport
from apitest.middleware.cors import CORS_NAMES, CorsPolicy
from apitest.middleware.errors import log_after_start, send_internal_error
from apitest.middleware.isolation import (
    FIXTURE_HEADERS,
    OWN_POLICY_PREFIXES,
    SAME_ORIGIN_PREFIXES,
    refuse_misdirected,
    under,
)
from apitest.middleware.observe import Observer
from apitest.middleware.request_id import acceptable
from apitest.outcome import OUTCOME_KEY, RequestOutcome

HttpErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
TlsHook = Callable[[Scope], None]

_NOSNIFF = b"x-content-type-options"
_REQUEST_ID = b"x-request-id"


class Edge:
    """The stages above, around ``app`` (the router, or the all-paths audit around it)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = ("127.0.0.1", "localhost"),
        allowed_origins: Iterable[str] = ("*",),
        max_body_bytes: int = 10 * 1024 * 1024,
        debug: bool = False,
        metrics: Metrics | None = None,
        http_error: HttpErrorHandler | None = None,
        on_tls: TlsHook | None = None,
    ) -> None:
        self.app = app
        self.allowed_hosts = frozenset(host_name(h) for h in allowed_hosts)
        self.cors = CorsPolicy(list(allowed_origins))
        self.max_body_bytes = max_body_bytes
        self.debug = debug
        self.observer = Observer(metrics)
        self.http_error = http_error
        self.on_tls = on_tls
        # Where a route's own Starlette wrapper finds the HTTPException handler (request_response reads it).
        self.handlers: tuple[dict[Any, Any], dict[int, Any]] = (
            ({HTTPException: http_error} if http_error else {}),
            {},
        )
        # Websockets and the lifespan take Starlette's own path: none of the HTTP stages applies to them.
        self.other = ExceptionMiddleware(app, handlers=dict(self.handlers[0]))
        # What the start message loses and gains, for the four kinds of response (sandboxed? CORS any-origin?).
        cors_any = self.cors.any_origin
        any_headers = self.cors.any_origin_headers if cors_any else []
        self._plans: dict[tuple[bool, bool], tuple[frozenset[bytes], list[tuple[bytes, bytes]]]] = {}
        for sandboxed in (False, True):
            for cors in (False, True):
                drop = {_REQUEST_ID}
                add: list[tuple[bytes, bytes]] = []
                if cors and cors_any:
                    drop |= CORS_NAMES
                    add += any_headers
                if sandboxed:
                    drop.add(_NOSNIFF)
                    add += FIXTURE_HEADERS
                if not all(valid_header(name, value) for name, value in add):
                    raise ValueError(f"invalid response header among {add!r}")
                self._plans[(sandboxed, cors)] = (frozenset(drop), add)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.other(scope, receive, send)
            return
        # 1. the connection, for the fault endpoints
        transport = server_transport(receive)
        if transport is not None:
            scope[TRANSPORT_KEY] = transport
        # One pass over the request headers for every stage that reads one.
        supplied: str | None = None  # each header: its first occurrence, as the separate stages read them
        host: str | None = None
        origin: str | None = None
        preflight_method = False
        declared: int | None = None
        declared_raw = False
        for name, value in scope["headers"]:
            if name == b"host":
                if host is None:
                    host = value.decode("latin-1")
            elif name == b"x-request-id":
                if supplied is None:
                    supplied = value.decode("latin-1")
            elif name == b"origin":
                if origin is None:
                    origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight_method = True
            elif name == b"content-length" and not declared_raw:
                declared_raw = True
                text = value.decode("latin-1").strip()
                # More digits than any body could have: over the limit (int() refuses over 4,300 digits)
                declared = (int(text) if len(text) <= 18 else 10**18) if text.isascii() and text.isdigit() else None
        # 2. the request id, on the outcome every later stage reads
        outcome = scope.get(OUTCOME_KEY)
        if not isinstance(outcome, RequestOutcome):
            outcome = scope[OUTCOME_KEY] = RequestOutcome()
        outcome.request_id = request_id = supplied if supplied and acceptable(supplied) else random_uuid4()
        state = scope.get("state")
        if state is None:
            scope["state"] = {}
        # 3. the client certificate of a mutual-TLS connection
        extensions = scope.get("extensions")
        if self.on_tls is not None and extensions and "tls" in extensions:
            self.on_tls(scope)
        # 4. the observer's clock and in-flight gauge
        outcome.started = time.perf_counter()
        observer = self.observer
        observer.begin()
        try:
            await self._serve(scope, receive, send, outcome, request_id, host or "", origin, preflight_method, declared)
        finally:
            observer.end(scope, outcome)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        outcome: RequestOutcome,
        request_id: str,
        host: str,
        origin: str | None,
        preflight_method: bool,
        declared: int | None,
    ) -> None:
        path: str = scope["path"]
        # 5. isolation: the portal and admin paths answer only the allowed hosts; the rest is sandboxed
        same_origin = path.startswith(SAME_ORIGIN_PREFIXES) and under(path, SAME_ORIGIN_PREFIXES)
        sandboxed = not (path.startswith(OWN_POLICY_PREFIXES) and under(path, OWN_POLICY_PREFIXES))
        drop, add = self._plans[(sandboxed, not same_origin)]
        id_header = (_REQUEST_ID, request_id.encode("latin-1"))
        cors = self.cors
        vary_origin = not same_origin and not cors.any_origin
        started = False

        async def edge_send(message: Message) -> None:
            nonlocal started
            kind = message["type"]
            if kind == "http.response.body":
                outcome.bytes_out += len(message.get("body", b""))
            elif kind == "http.response.start":
                started = True
                outcome.status = message["status"]
                # The raw list: MutableHeaders costs several times more, and this runs on every response.
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in drop]
                headers += add
                headers.append(id_header)  # last, as the request id has always been
                message["headers"] = headers
                if vary_origin:
                    message.pop(VALIDATED_TAIL, None)  # the CORS headers of this origin come last: all are checked
                    cors.apply(MutableHeaders(scope=message), origin)
                else:
                    # The added headers are constants checked above and an id of printable ASCII (acceptable()
                    # or a UUID): the server need not check them again.
                    message[VALIDATED_TAIL] = len(add) + 1
            await send(message)

        if same_origin and host_name(host) not in self.allowed_hosts:
            drop, add = self._plans[(True, False)]  # the refusal is sandboxed on every path
            await refuse_misdirected(scope, edge_send, host)
            return
        # 6. CORS preflight: OPTIONS with an Origin and Access-Control-Request-Method
        if not same_origin and origin is not None and preflight_method and scope["method"] == "OPTIONS":
            scope["state"]["cors_preflight"] = True
            drop, add = self._plans[(sandboxed, False)]  # the preflight's own CORS headers, not a response's
            vary_origin = False
            start = {"type": "http.response.start", "status": 204, "headers": cors.preflight_headers(origin)}
            await edge_send(start)
            await edge_send({"type": "http.response.body", "body": b""})
            return
        # 8. the body limit, on the receive channel
        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise PayloadTooLarge.noted(scope, limit, received, declared)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge.noted(scope, limit, received, declared)
            return message

        scope["starlette.exception_handlers"] = self.handlers
        # 7. errors
        try:
            await self.app(scope, limited_receive, edge_send)
        except PayloadTooLarge as exc:
            if started:
                raise
            await send_payload_too_large(edge_send, exc)
        except HTTPException as exc:
            if started or self.http_error is None:
                raise
            response = await self.http_error(Request(scope, receive), exc)
            await response(scope, receive, edge_send)
        except Exception as exc:
            if started:
                log_after_start(scope, exc)
                raise
            await send_internal_error(scope, edge_send, exc, debug=self.debug)
