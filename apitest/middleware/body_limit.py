"""Refuse request bodies over ``server.max_body_bytes`` with 413 before they are read whole.

The limit is enforced by :class:`apitest.middleware.edge.Edge` on the ``receive`` channel, so it holds for every
route without buffering:

- a ``Content-Length`` over the limit fails the first ``receive()``: not one body byte is handed to the
  app, and uvicorn never sends ``100 Continue``, so a client using ``Expect: 100-continue`` never sends
  the body;
- a chunked (or under-declared) body fails the ``receive()`` whose bytes take the count past the limit.

The failure is raised as :class:`PayloadTooLarge` (a ``ParamError`` with status 413), so on ``/v1`` the
pipeline's handler stage answers it inside the audit stage, and the audit row carries
``error_category=payload_too_large``. Routes outside the pipeline are answered here. The 413 carries
``Connection: close`` because the rest of the body is never read; the production protocol then shuts its
side and drains the rest for a moment before closing (``apitest.http_guard``), so a client or gateway still
sending the body reads the 413 rather than a connection reset. A handler that never reads its body
(``GET /v1/whoami`` with a body) is not refused: the server discards the unread bytes.

References: RFC 9110 §15.5.14 (413 Content Too Large).
"""

from __future__ import annotations

from starlette.types import Scope, Send

from apitest.failures import note_failure
from apitest.http import ParamError, json_bytes


class PayloadTooLarge(ParamError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes", 413, {"Connection": "close"})

    @classmethod
    def noted(cls, scope: Scope, limit: int, received: int, declared: int | None) -> PayloadTooLarge:
        """The error, with the failure noted on the request for its audit row."""
        error = cls(limit)
        note_failure(scope, "payload_too_large", f"{error.message} (received {received}, declared {declared})")
        return error


async def send_payload_too_large(send: Send, exc: PayloadTooLarge) -> None:
    payload = json_bytes({"error": exc.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
