"""Failure group: chosen status codes, latency and seeded flakiness, plus the failure-lab forms of the same
routes (weighted status specs, latency distributions). Parsing and drawing live in ``chance.py``."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.chance import (
    SIGMA_DEFAULT,
    SIGMA_MAX,
    SLOW_MAX_MS,
    STATUS_MAX,
    STATUS_MIN,
    choose_status,
    flaky_rate,
    is_status_spec,
    parse_distribution,
    parse_status_spec,
)
from apitest.endpoints.helpers import go_number, query, sleep_unless_disconnected
from apitest.endpoints.seeded import call_rng
from apitest.endpoints.statuses import GO_STATUS_TEXT, NO_BODY, status_text
from apitest.failures import note_failure
from apitest.http import JSON_TYPE, ParamError, json_response, parse_int, parse_int_clamped
from apitest.registry import BOOL, ERROR_SCHEMA, INT, NUM, STR, Param, Reply, RouteSpec, bad_request, obj, ok

CANCELLED_STATUS = 499  # nginx's "client closed request"; seen by the audit, rarely by the client


def call_id_of(request: Request) -> int:
    """``call_id``: missing or not an integer → 0; negative values are fine."""
    return parse_int(query(request, "call_id")) or 0


async def status(request: Request) -> Response:
    raw = request.path_params["code"]
    body: dict[str, Any]
    if is_status_spec(raw):
        entries = parse_status_spec(raw)
        roll = call_rng(query(request, "seed"), call_id_of(request)).float64()
        code = choose_status(entries, roll)
        body = {"status": code, "message": status_text(code), "roll": go_number(roll)}
    else:
        parsed = parse_int(raw)
        if parsed is None or not STATUS_MIN <= parsed <= STATUS_MAX:
            raise ParamError("code must be an integer in [200, 599]")
        code = parsed
        body = {"status": code, "message": status_text(code)}
    if code in NO_BODY:
        return Response(status_code=code, headers={"Content-Type": JSON_TYPE})
    return json_response(body, code)


async def slow(request: Request) -> Response:
    dist = parse_distribution(request)
    extra: dict[str, Any] = {}
    if dist is None:
        # Go's Atoi with its error ignored: junk → 0, an int64 overflow keeps the clamped extreme (→ 400).
        ms = max(0, parse_int_clamped(query(request, "ms")) or 0)
        if ms > SLOW_MAX_MS:
            raise ParamError(f"ms {ms} exceeds max {SLOW_MAX_MS}")
    else:
        drawn = dist.draw(call_rng(query(request, "seed"), call_id_of(request)))
        ms = min(max(drawn, 0), SLOW_MAX_MS)
        extra = {"dist": dist.name, "drawn_ms": drawn}
    started = time.monotonic()
    finished = await sleep_unless_disconnected(request, ms / 1000)
    slept = int((time.monotonic() - started) * 1000)
    if finished:
        # The event loop may wake a hair early; the whole sleep did pass.
        return json_response({"slept_ms": max(slept, ms), "requested_ms": ms, **extra})
    note_failure(request.scope, "client_disconnected", f"client disconnected after {slept} of {ms} ms")
    return json_response({"slept_ms": slept, "cancelled": True, "requested_ms": ms, **extra}, CANCELLED_STATUS)


async def flaky(request: Request) -> Response:
    rate = flaky_rate(query(request, "fail_rate"))
    roll = call_rng(query(request, "seed"), call_id_of(request)).float64()
    failed = roll < rate
    body = {"failed": failed, "roll": go_number(roll), "fail_rate": go_number(rate)}
    return json_response(body, 503 if failed else 200)


STATUS_SCHEMA = obj({"status": INT, "message": STR, "roll": NUM}, required=["status", "message"])
SLOW_SCHEMA = obj(
    {
        "slept_ms": INT,
        "cancelled": BOOL,
        "requested_ms": INT,
        "dist": {"type": "string", "enum": ["uniform", "lognormal"]},
        "drawn_ms": INT,
    },
    required=["slept_ms", "requested_ms"],
)
FLAKY_SCHEMA = obj({"failed": BOOL, "roll": NUM, "fail_rate": NUM})


def _status_responses() -> dict[int, Reply]:
    """Every registered code the route can answer with, as asked for; 400 is also the error envelope."""
    replies: dict[int, Reply] = {}
    for code, text in GO_STATUS_TEXT.items():
        if not STATUS_MIN <= code <= STATUS_MAX:
            continue
        if code in NO_BODY:
            replies[code] = Reply(f"{text} (as requested; no body).", None)
        elif code == 400:
            replies[code] = Reply(
                "Bad Request as requested, or an invalid code or weighted spec (error envelope).",
                JSON_TYPE,
                {"oneOf": [STATUS_SCHEMA, ERROR_SCHEMA]},
            )
        else:
            replies[code] = ok(STATUS_SCHEMA, f"{text} (as requested).")
    return replies


SEED = Param("seed", description="Seed of the random choice; without one every call differs.")
CALL_ID = Param(
    "call_id", "integer", default=0, description="Call number mixed into the seed (a retry sends the next one)."
)

ROUTES = [
    RouteSpec(
        "status",
        "GET",
        "/v1/status/{code}",
        "failure",
        "Answers with the requested status (200-599), or one drawn from a weighted spec like 200:0.8,503:0.2.",
        status,
        params=(
            Param(
                "code",
                required=True,
                location="path",
                description="A status code 200-599, or a weighted spec: comma-separated code[:weight] entries "
                "(weight positive, default 1), e.g. 200:0.8,503:0.2.",
            ),
            Param("seed", description="Weighted spec only: seed of the choice; without one every call differs."),
            Param("call_id", "integer", default=0, description="Weighted spec only: call number mixed into the seed."),
        ),
        responses=_status_responses(),
    ),
    RouteSpec(
        "slow",
        "GET",
        "/v1/slow",
        "failure",
        "Sleeps before answering: a fixed ms, or a seeded uniform or log-normal draw; stops if the client leaves.",
        slow,
        params=(
            Param(
                "ms",
                "integer",
                default=0,
                minimum=0,
                maximum=SLOW_MAX_MS,
                description="Milliseconds to sleep; missing, not an integer or negative means 0.",
            ),
            Param(
                "dist",
                description="Draw the delay instead of ms: uniform (min_ms, max_ms) or lognormal (median_ms, sigma).",
            ),
            Param("min_ms", "integer", default=0, minimum=0, maximum=SLOW_MAX_MS, description="dist=uniform: low end."),
            Param(
                "max_ms",
                "integer",
                minimum=0,
                maximum=SLOW_MAX_MS,
                description="dist=uniform (required there): high end, included.",
            ),
            Param(
                "median_ms",
                "integer",
                minimum=1,
                maximum=SLOW_MAX_MS,
                description="dist=lognormal (required there): median delay; draws above 60000 sleep 60000.",
            ),
            Param(
                "sigma",
                "number",
                default=SIGMA_DEFAULT,
                minimum=0,
                maximum=SIGMA_MAX,
                description="dist=lognormal: spread (standard deviation of the log).",
            ),
            Param("seed", description="With dist: seed of the draw; without one every call differs."),
            Param("call_id", "integer", default=0, description="With dist: call number mixed into the seed."),
        ),
        responses={
            200: ok(SLOW_SCHEMA),
            400: bad_request("ms above 60000, or an invalid distribution parameter."),
            499: ok(SLOW_SCHEMA, "The client disconnected before the sleep ended (best effort; seen in the audit)."),
        },
    ),
    RouteSpec(
        "flaky",
        "GET",
        "/v1/flaky",
        "failure",
        "Fails with 503 for a seeded share of calls: the same seed and call_id always give the same answer.",
        flaky,
        params=(
            Param(
                "fail_rate",
                "number",
                default=0,
                minimum=0,
                maximum=1,
                description="Probability of a 503; unparsable means 0, values outside [0, 1] are clamped.",
            ),
            SEED,
            CALL_ID,
        ),
        responses={200: ok(FLAKY_SCHEMA, "The roll passed."), 503: ok(FLAKY_SCHEMA, "The roll failed.")},
    ),
]
