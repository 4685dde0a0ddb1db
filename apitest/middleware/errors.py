"""Turn an unhandled exception (a bug, or ``/v1/crash``), caught by :class:`apitest.middleware.edge.Edge` or the
``/v1`` pipeline, into the internal-error envelope.

The traceback is logged with the request id; the client sees only ``{"error": "internal error",
"request_id": ...}``, plus the exception type and traceback when ``server.debug_errors`` is on.
"""

from __future__ import annotations

import traceback

from starlette.types import Scope, Send

from apitest import logs
from apitest.http import json_bytes
from apitest.outcome import outcome_of

log = logs.get("errors")


def log_after_start(scope: Scope, exc: BaseException) -> None:
    """An exception after the response started cannot become a 500: it is logged, and the server closes the
    connection."""
    log.error(
        "unhandled exception after the response started",
        exc_info=exc,
        extra={"request_id": outcome_of(scope).request_id, "path": scope["path"]},
    )


async def send_internal_error(scope: Scope, send: Send, exc: BaseException, *, debug: bool) -> None:
    """Log ``exc`` with the request id and answer 500 with the internal-error envelope."""
    state = scope.setdefault("state", {})
    request_id = outcome_of(scope).request_id
    log.error("unhandled exception", exc_info=exc, extra={"request_id": request_id, "path": scope["path"]})
    body: dict[str, object] = {"error": "internal error", "request_id": request_id}
    if debug:
        body["exception"] = type(exc).__name__
        body["traceback"] = traceback.format_exception(exc)
    payload = json_bytes(body)
    state["error"] = f"{type(exc).__name__}: {exc}"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
