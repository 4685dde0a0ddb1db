"""The portal's two actions that send requests: replay a captured event, and Try-It on a route.

Both build an :class:`~apitest.portal.dispatch.Outgoing` request, run it through the app's router as the
signed-in portal identity (so it is authenticated, rate limited and audited like any request) and return
the response plus the id of the audit event it produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from apitest.portal.core import Portal
from apitest.portal.data import DataError, event_id_or_raise, replay_refusal
from apitest.portal.dispatch import DispatchResult, Outgoing, dispatch, replay_request, try_it_headers
from apitest.portal.session import PortalIdentity
from apitest.registry import RouteSpec

FLUSH_TIMEOUT = 3.0  # wait this long for the new row, so a link to it works at once
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def result_json(result: DispatchResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "headers": result.headers,
        **result.body_json(),
        "body_truncated": result.body_truncated,
        "event_id": result.event_id,
    }


async def _settle(portal: Portal) -> None:
    if portal.audit is not None:
        await portal.audit.flush(within=FLUSH_TIMEOUT)


async def replay(portal: Portal, request: Request, event_id: str, identity: PortalIdentity) -> dict[str, Any]:
    """Send a captured request again: ``{replayed_from, dispatched_to, status, headers, body, body_truncated,
    event_id}``. The refusals follow the original's order (503, 400, 404, 400, 503, 404, 400)."""
    store = portal.audit_store
    if store is None:
        raise DataError("audit is disabled (audit.enabled is false): nothing to replay", 503)
    event_id = event_id_or_raise(event_id)
    record = await store.get(event_id)
    if record is None:
        raise DataError(f'event "{event_id}" not found', 404)
    if not record.path.startswith("/v1/"):
        raise DataError("only /v1/ requests can be replayed")
    if not portal.settings.audit.capture_payloads and record.payload is None:
        raise DataError("audit.capture_payloads is off: requests are not stored, so they cannot be replayed", 503)
    refusal = replay_refusal(portal, record)
    if record.payload is None:
        raise DataError(refusal, 404)
    if refusal:
        raise DataError(refusal)
    payload = record.payload
    keys = portal.settings.api_keys
    outgoing = replay_request(
        record.method,
        record.path,
        payload.request_query,
        payload.request_headers,
        payload.request_body,
        payload.request_content_type,
        event_id=event_id,
        key_header=keys.header_name,
        key_param=keys.query_param_name,
    )
    result = await dispatch(
        request.app.router,
        request.scope,
        outgoing,
        source="replay",
        identity=identity.to_identity(),
        replayed_from=event_id,
    )
    await _settle(portal)
    return {"replayed_from": event_id, "dispatched_to": result.target, **result_json(result)}


@dataclass
class TryItInput:
    method: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def fill_path(spec: RouteSpec, values: dict[str, str]) -> str:
    """The decoded path a route sees: a value ``my key`` reaches the route as ``my key`` (the original decodes
    path parameters before dispatch); the wire form is :attr:`Outgoing.raw_path`."""
    bad = [n for n in spec.path_params if not values.get(n) or "/" in values[n]]
    if bad:
        raise DataError(f"missing or invalid path params: {', '.join(bad)}")
    return _PARAM.sub(lambda m: values[m.group(1)], spec.path)


async def try_it(
    portal: Portal, request: Request, spec: RouteSpec, given: TryItInput, identity: PortalIdentity
) -> dict[str, Any]:
    """Call one route as the portal identity: ``{dispatched_to, method, status, headers, body, body_truncated,
    event_id}``."""
    method = (given.method or spec.method).upper()
    if not re.fullmatch(r"[A-Z]{1,16}", method):
        raise DataError("method must be an HTTP method name")
    outgoing = Outgoing(
        method=method,
        path=fill_path(spec, given.path_params),
        query=given.query,
        headers=try_it_headers(given.headers),
        body=given.body[: 1024 * 1024],
    )
    result = await dispatch(
        request.app.router, request.scope, outgoing, source="tryit", identity=identity.to_identity()
    )
    await _settle(portal)
    return {"dispatched_to": result.target, "method": method, **result_json(result)}


async def send(portal: Portal, request: Request, outgoing: Outgoing, identity: PortalIdentity) -> dict[str, Any]:
    """Edit and resend: an operator-edited request (any ``/v1/`` path), recorded with source ``tryit``."""
    result = await dispatch(
        request.app.router, request.scope, outgoing, source="tryit", identity=identity.to_identity()
    )
    await _settle(portal)
    return {"dispatched_to": result.target, "method": outgoing.method, **result_json(result)}


def parse_lines(text: str, separator: str) -> list[tuple[str, str]]:
    """``name<sep>value`` lines (blank lines skipped); a line without the separator is refused."""
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(separator)
        if not sep or not name.strip():
            raise DataError(f"line {number}: expected name{separator}value")
        pairs.append((name.strip(), value.strip()))
    return pairs


def try_it_from_json(body: Any) -> TryItInput:
    """The original's body: ``{method?, path_params?, query_params?:{k:[v]}, headers?:{k:[v]}, body?:string}``."""
    if body is None:
        return TryItInput()
    if not isinstance(body, dict):
        raise DataError("body must be a JSON object")

    def pairs(name: str) -> list[tuple[str, str]]:
        value = body.get(name) or {}
        if not isinstance(value, dict):
            raise DataError(f"{name} must be an object of string lists")
        out: list[tuple[str, str]] = []
        for k, vs in value.items():
            items = vs if isinstance(vs, list) else [vs]
            if not all(isinstance(v, str | int | float) for v in items):
                raise DataError(f"{name}.{k} must be a string or a list of strings")
            out += [(str(k), str(v)) for v in items]
        return out

    path_params = body.get("path_params") or {}
    if not isinstance(path_params, dict):
        raise DataError("path_params must be an object")
    text = body.get("body")
    if text is not None and not isinstance(text, str):
        raise DataError("body must be a string")
    method = body.get("method") or ""
    if not isinstance(method, str):
        raise DataError("method must be a string")
    return TryItInput(
        method=method,
        path_params={str(k): str(v) for k, v in path_params.items()},
        query=pairs("query_params"),
        headers=pairs("headers"),
        body=(text or "").encode(),
    )
