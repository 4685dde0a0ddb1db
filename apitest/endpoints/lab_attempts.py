"""``/v1/attempts/{key}``: fail the first ``fail`` attempts of a key, then succeed.

Any method but DELETE counts one attempt of ``key`` (shared by every worker, see :mod:`apitest.attempts`)
and answers by its number ``n``:

- ``n <= fail`` (default 1): the configured failure, by ``mode``:
  ``status`` (default) answers ``status`` (default 503); ``timeout`` sleeps ``delay_ms`` (default 30000)
  first, so a gateway timeout fires, then answers ``status``; ``reset`` resets the connection (TCP RST, no
  response; needs the uvicorn connection, else 501 before counting).
- ``n > fail``: ``then`` (default 200).

Every answer carries ``Apitest-Attempt: <n>`` and the JSON ``{"key", "attempt", "fail", "status",
"outcome"}`` (no body for 204 and 304). ``DELETE`` forgets the key (``{"key", "reset"}``). The audit row
of each attempt has ``details.attempt`` (and ``fail``, ``mode``, ``outcome``); a failing attempt is ``fault_injected``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import (
    non_negative_bounded,
    positive_bounded,
    query,
    sleep_unless_disconnected,
)
from apitest.endpoints.lab_faults import reset, wait_for_disconnect
from apitest.endpoints.statuses import GO_STATUS_TEXT, NO_BODY
from apitest.failures import note_detail, note_failure
from apitest.http import ParamError, error_response, json_response
from apitest.middleware.connection import transport_of

MODES = ("status", "timeout", "reset")
KEY_MAX = 200
FAIL_DEFAULT, FAIL_MAX = 1, 1000
TTL_DEFAULT, TTL_MAX = 600, 86400
DELAY_DEFAULT_MS, DELAY_MAX_MS = 30000, 60000
ATTEMPT_HEADER = "Apitest-Attempt"


def attempt_key(request: Request) -> str:
    key = str(request.path_params["key"])
    if not 1 <= len(key) <= KEY_MAX or not all(0x21 <= ord(c) < 0x7F for c in key):
        raise ParamError(f"key must be 1 to {KEY_MAX} printable ASCII characters without spaces")
    return key


def status_param(request: Request, name: str, default: int) -> int:
    value = non_negative_bounded(request, name, default, 599)
    if value < 200:
        raise ParamError(f"{name} must be an integer in [200, 599]")
    if value not in GO_STATUS_TEXT:
        raise ParamError(f"{name} {value} is not a registered HTTP status")
    return value


class ResetResponse(Response):
    """Resets the connection instead of answering."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = transport_of(scope)
        assert transport is not None, "checked before the attempt was counted"
        reset(transport)
        await wait_for_disconnect(receive)


@needs_deps
async def attempt(request: Request, *, deps: EndpointDeps) -> Response:
    key = attempt_key(request)
    fail = non_negative_bounded(request, "fail", FAIL_DEFAULT, FAIL_MAX)
    status = status_param(request, "status", 503)
    then = status_param(request, "then", 200)
    ttl_s = positive_bounded(request, "ttl_s", TTL_DEFAULT, TTL_MAX)
    delay_ms = non_negative_bounded(request, "delay_ms", DELAY_DEFAULT_MS, DELAY_MAX_MS)
    mode = query(request, "mode") or "status"
    if mode not in MODES:
        raise ParamError(f"mode must be one of {', '.join(MODES)}")
    if mode == "reset" and transport_of(request.scope) is None:
        message = "mode=reset needs the client connection, which this server does not expose"
        note_failure(request.scope, "fault_injected", message)
        return error_response(message, 501)
    counters = deps.attempts
    n = await counters.next(key, ttl_s)
    failing = n <= fail
    details: dict[str, Any] = {
        "attempt": n,
        "fail": fail,
        "mode": mode,
        "outcome": "failed" if failing else "succeeded",
    }
    for name, value in details.items():
        note_detail(request.scope, name, value)
    headers = {ATTEMPT_HEADER: str(n)}
    body = {
        "key": key,
        "attempt": n,
        "fail": fail,
        "status": status if failing else then,
        "outcome": details["outcome"],
    }
    if not failing:
        return answer(body, then, headers)
    what = f"attempt {n} of {fail} failing attempts of key {key!r}"
    if mode == "reset":
        note_failure(request.scope, "fault_injected", f"{what}: connection reset (TCP RST)")
        return ResetResponse()
    if mode == "timeout" and not await sleep_unless_disconnected(request, delay_ms / 1000):
        note_failure(request.scope, "client_disconnected", f"{what}: client left during delay_ms={delay_ms}")
        return Response(status_code=499)
    note_failure(request.scope, "fault_injected", f"{what}: answered {status}")
    return answer(body, status, headers)


def answer(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    """The JSON answer, or no body for a status that has none (204, 304)."""
    if status in NO_BODY:
        return Response(status_code=status, headers=headers)
    return json_response(body, status, headers)


@needs_deps
async def forget(request: Request, *, deps: EndpointDeps) -> Response:
    key = attempt_key(request)
    counters = deps.attempts
    return json_response({"key": key, "reset": await counters.reset(key)})
