"""The failure lab (group ``lab``): every failure a gateway or client must survive, on demand.

The route table; the handlers live in the ``lab_*`` modules. ``docs/failure-lab.md`` describes each
endpoint and its exact wire behaviour.
"""

from __future__ import annotations

from typing import Any

from apitest.endpoints.identity import WHOAMI_SCHEMA
from apitest.endpoints.lab_attempts import (
    ATTEMPT_HEADER,
    DELAY_DEFAULT_MS,
    FAIL_DEFAULT,
    FAIL_MAX,
    MODES,
    TTL_DEFAULT,
    TTL_MAX,
    attempt,
    forget,
)
from apitest.endpoints.lab_basics import MAX_AGE_DEFAULT, MAX_AGE_MAX, crash, limited, resource, scoped
from apitest.endpoints.lab_faults import CHUNKS_MAX, INTERVAL_MAX_MS, KINDS, LENGTH_DEFAULT, LENGTH_MAX, fault
from apitest.endpoints.lab_limits import LIMIT_DEFAULT, LIMIT_MAX, WINDOW_DEFAULT, WINDOW_MAX
from apitest.endpoints.lab_orders import STALL_DEFAULT_MS, STALL_MAX_MS, create_order
from apitest.endpoints.lab_respond import DELAY_MAX_MS, MAX_HEADERS, respond
from apitest.endpoints.lab_validation import PROBLEMS_SCHEMA, json_schema, validate
from apitest.endpoints.lab_webhooks import ROUTES as WEBHOOK_ROUTES
from apitest.endpoints.statuses import GO_STATUS_TEXT, NO_BODY
from apitest.openapi_security import RATE_LIMIT_HEADERS, RATE_LIMITED_SCHEMA
from apitest.registry import BOOL, ERROR_SCHEMA, INT, JSON, PLAIN, STR, Param, Reply, RouteSpec, obj, ok

GROUP = "lab"
ORDER_BODY: dict[str, Any] = {
    "required": True,
    "description": "An order (the schema POST /v1/validate checks).",
    "content": {JSON: {"schema": json_schema()}},
}
TOO_LARGE = Reply("The body is larger than server.max_body_bytes (sent with Connection: close).", JSON, ERROR_SCHEMA)
NOT_JSON = Reply("Content-Type is not application/json or a +json type.", JSON, ERROR_SCHEMA, ("Accept-Post",))
INVALID = Reply("The body is not valid JSON or breaks the order schema.", JSON, PROBLEMS_SCHEMA)
DELAY = Param("delay_ms", "integer", description="Wait before answering, in ms.", default=0, minimum=0, maximum=60000)

RESPOND_PARAMS = (
    Param("status", "integer", description="Status to answer.", default=200, minimum=200, maximum=599),
    Param(
        "delay_ms", "integer", description="Wait before answering, in ms.", default=0, minimum=0, maximum=DELAY_MAX_MS
    ),
    Param(
        "header",
        description=f"Response header as Name:Value (repeatable, at most {MAX_HEADERS}); framing headers are refused.",
        repeated=True,
    ),
    Param("body", description="Response body, sent as is (default: a JSON status object)."),
    Param("content_type", description="Content-Type of the answer (default text/plain with body, else JSON)."),
)
RESPOND_REPLY = Reply(
    "The requested status (any of 200-599) with the requested headers and body. Without `body` the answer is "
    'JSON `{"status": <code>, "message": "<reason>"}`; with `body` (even empty) it is that body as text/plain, '
    "and `content_type` overrides either.",
    "*/*",
    None,
)


def respond_route(method: str) -> RouteSpec:
    return RouteSpec(
        f"respond_{method.lower()}",
        method,
        "/v1/respond",
        GROUP,
        "Compose a response: status, latency, headers and body from the query (the request body is ignored).",
        respond,
        params=RESPOND_PARAMS,
        responses={200: RESPOND_REPLY},
    )


ATTEMPT_KEY = Param("key", location="path", required=True, description="Any 1-200 printable ASCII characters.")
ATTEMPT_PARAMS = (
    ATTEMPT_KEY,
    Param("fail", "integer", description="Attempts that fail.", default=FAIL_DEFAULT, minimum=0, maximum=FAIL_MAX),
    Param(
        "status",
        "integer",
        description="Status of a failing attempt (a registered one).",
        default=503,
        minimum=200,
        maximum=599,
    ),
    Param(
        "then",
        "integer",
        description="Status once the failures are spent (a registered one).",
        default=200,
        minimum=200,
        maximum=599,
    ),
    Param("mode", description=f"How an attempt fails: {', '.join(MODES)} (default status)."),
    Param(
        "delay_ms",
        "integer",
        description="mode=timeout: wait before answering status.",
        default=DELAY_DEFAULT_MS,
        minimum=0,
        maximum=60000,
    ),
    Param(
        "ttl_s",
        "integer",
        description="The key's count restarts this long after its first attempt.",
        default=TTL_DEFAULT,
        minimum=1,
        maximum=TTL_MAX,
    ),
)
ATTEMPT_SCHEMA = obj({"key": STR, "attempt": INT, "fail": INT, "status": INT, "outcome": STR})
ATTEMPT_REPLY = Reply(
    "The attempt's answer: `status` for the first `fail` attempts of the key, then `then` (any of 200-599); "
    "mode=reset sends no response at all. Apitest-Attempt numbers the attempt.",
    JSON,
    ATTEMPT_SCHEMA,
    (ATTEMPT_HEADER,),
)


def attempt_replies() -> dict[int, Reply]:
    """Any registered status can be asked for (status and then); 400 and 501 may also be the error envelope."""
    replies: dict[int, Reply] = {}
    for code, text in GO_STATUS_TEXT.items():
        if code < 200:
            continue
        if code in NO_BODY:
            replies[code] = Reply(f"{text} as requested (no body).", None, None, (ATTEMPT_HEADER,))
        elif code in (400, 501):
            either = {"anyOf": [ATTEMPT_SCHEMA, ERROR_SCHEMA]}
            why = "an invalid parameter" if code == 400 else "mode=reset under a server that hides the connection"
            replies[code] = Reply(f"{text} as requested, or {why} (error envelope).", JSON, either, (ATTEMPT_HEADER,))
        else:
            replies[code] = Reply(f"{text} as requested.", JSON, ATTEMPT_SCHEMA, (ATTEMPT_HEADER,))
    replies[200] = ATTEMPT_REPLY
    return replies


def attempt_route(method: str) -> RouteSpec:
    return RouteSpec(
        f"attempts_{method.lower()}",
        method,
        "/v1/attempts/{key}",
        GROUP,
        "Count one attempt of the key: fail the first `fail` attempts (status, timeout or reset), then succeed.",
        attempt,
        params=ATTEMPT_PARAMS,
        responses=attempt_replies(),
    )


ORDER_CREATED = obj(
    {"id": STR, "status": {"type": "string", "const": "created"}, "idempotency_key": STR, "order": json_schema()},
    required=["id", "status", "order"],
)
ROUTES = [
    *(respond_route(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")),
    *(attempt_route(m) for m in ("GET", "POST", "PUT", "PATCH")),
    RouteSpec(
        "attempts_reset",
        "DELETE",
        "/v1/attempts/{key}",
        GROUP,
        "Forget the key's attempts: the next attempt is number 1 again.",
        forget,
        params=(ATTEMPT_KEY,),
        responses={
            200: ok(obj({"key": STR, "reset": BOOL}), "reset is false when the key had no live count."),
            400: Reply("The key is not 1-200 printable ASCII characters without spaces.", JSON, ERROR_SCHEMA),
        },
    ),
    RouteSpec(
        "validate",
        "POST",
        "/v1/validate",
        GROUP,
        "Check an order against a fixed schema; 400 lists every field problem.",
        validate,
        request_body=ORDER_BODY,
        responses={
            200: ok(json_schema(), "The order is valid; echoed as parsed."),
            400: INVALID,
            413: TOO_LARGE,
            415: NOT_JSON,
        },
    ),
    RouteSpec(
        "scoped",
        "GET",
        "/v1/scoped/{scope}",
        GROUP,
        "Answer only callers holding the scope named in the path (403 insufficient_scope otherwise).",
        scoped,
        params=(Param("scope", location="path", required=True, description="The scope the caller must hold."),),
        responses={200: ok(obj({"scope": STR, "identity": WHOAMI_SCHEMA}))},
        scope_param="scope",
    ),
    RouteSpec(
        "resource",
        "GET",
        "/v1/resources/{id}",
        GROUP,
        "One item of the pagination data set (ids 0-9999); 404 outside it. Cacheable, with an ETag.",
        resource,
        params=(
            Param("id", "integer", required=True, location="path", description="Item id."),
            Param(
                "max_age",
                "integer",
                description="Cache-Control max-age, in seconds.",
                default=MAX_AGE_DEFAULT,
                minimum=0,
                maximum=MAX_AGE_MAX,
            ),
        ),
        responses={
            200: ok(obj({"id": INT, "value": STR}), headers=("ETag", "Cache-Control")),
            304: Reply("If-None-Match matched the ETag.", None, None, ("ETag", "Cache-Control")),
            404: Reply("No item with this id: resource <id> not found.", JSON, ERROR_SCHEMA),
        },
    ),
    RouteSpec(
        "create_order",
        "POST",
        "/v1/orders",
        GROUP,
        "Create an order; Idempotency-Key replays the first response, 409 while it runs, 422 for another body.",
        create_order,
        params=(
            Param("Idempotency-Key", location="header", description="1-255 printable ASCII characters."),
            DELAY,
            Param(
                "after_commit",
                description="Lose the response after the order (and its key) is committed: reset, abort or timeout.",
            ),
            Param(
                "stall_ms",
                "integer",
                description="after_commit=timeout: hold the answer this long.",
                default=STALL_DEFAULT_MS,
                minimum=0,
                maximum=STALL_MAX_MS,
            ),
        ),
        request_body=ORDER_BODY,
        responses={
            201: ok(ORDER_CREATED, "Created (or replayed).", headers=("Idempotent-Replayed", "Apitest-Worker")),
            400: Reply("Invalid body, Idempotency-Key or delay_ms.", JSON, {"anyOf": [PROBLEMS_SCHEMA, ERROR_SCHEMA]}),
            409: Reply("A request with this key is still in progress.", JSON, ERROR_SCHEMA, ("Retry-After",)),
            413: TOO_LARGE,
            415: NOT_JSON,
            422: Reply("The key was already used with a different body.", JSON, ERROR_SCHEMA),
            501: Reply("after_commit=reset under a server that hides the connection.", JSON, ERROR_SCHEMA),
        },
    ),
    RouteSpec(
        "limited",
        "GET",
        "/v1/limited",
        GROUP,
        "Rate limited by an explicit limit per window for each caller; 429 with Retry-After past it.",
        limited,
        params=(
            Param(
                "limit",
                "integer",
                description="Requests per window.",
                default=LIMIT_DEFAULT,
                minimum=1,
                maximum=LIMIT_MAX,
            ),
            Param(
                "window_s",
                "integer",
                description="Window length in seconds (starts with the caller's first request).",
                default=WINDOW_DEFAULT,
                minimum=1,
                maximum=WINDOW_MAX,
            ),
        ),
        responses={
            200: ok(
                obj({"limit": INT, "window_s": INT, "remaining": INT, "reset": INT}),
                headers=(*RATE_LIMIT_HEADERS, "RateLimit-Policy", "Apitest-Worker"),
            ),
            429: Reply(
                "Over the limit.", JSON, RATE_LIMITED_SCHEMA, ("Retry-After", *RATE_LIMIT_HEADERS, "RateLimit-Policy")
            ),
        },
    ),
    RouteSpec(
        "crash",
        "GET",
        "/v1/crash",
        GROUP,
        "Raise an unhandled exception: the real 500 path, with the request id (and traceback in debug mode).",
        crash,
        responses={
            500: Reply(
                "Always. exception and traceback only with server.debug_errors.",
                JSON,
                obj(
                    {"error": STR, "request_id": STR, "exception": STR, "traceback": {"type": "array", "items": STR}},
                    required=["error", "request_id"],
                ),
            )
        },
    ),
    RouteSpec(
        "fault",
        "GET",
        "/v1/fault/{kind}",
        GROUP,
        "Break the connection: truncated and abort cut a 200 short; reset, empty and malformed send no response.",
        fault,
        params=(
            Param("kind", location="path", required=True, description=f"One of {', '.join(KINDS)}."),
            DELAY,
            Param(
                "length",
                "integer",
                description="truncated: Content-Length promised.",
                default=LENGTH_DEFAULT,
                minimum=1,
                maximum=LENGTH_MAX,
            ),
            Param("sent", "integer", description="truncated: body bytes sent (default length/2).", minimum=0),
            Param(
                "chunks",
                "integer",
                description="abort: chunks sent before the cut.",
                default=3,
                minimum=0,
                maximum=CHUNKS_MAX,
            ),
            Param(
                "interval_ms",
                "integer",
                description="abort: pause between chunks.",
                default=0,
                minimum=0,
                maximum=INTERVAL_MAX_MS,
            ),
        ),
        responses={
            200: Reply("truncated and abort only: the body is cut short and the connection closed.", PLAIN),
            501: Reply("reset, empty, malformed: this server does not expose the connection.", JSON, ERROR_SCHEMA),
        },
    ),
    *WEBHOOK_ROUTES,
]
