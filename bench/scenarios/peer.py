"""Peer: apitest against httpbin (PyPI, under gunicorn with gevent workers, the same worker count).

- echo: ``POST /v1/echo`` against ``POST /anything`` with the same JSON body;
- slow: ``/v1/slow?ms=1000`` against ``/delay/1`` under many concurrent clients.

apitest runs as deployed for gateway tests: anonymous access allowed, every request audited to Postgres with
payload capture, the JSON access log on. httpbin does none of that, so the echo bar is 0.8 of its throughput.
"""

from __future__ import annotations

import httpx

from bench import configs, pg, servers
from bench.common import alternate, latency, median_rps
from bench.procs import ServerProcess, free_port
from bench.scenario import Context, Measure, Outcome
from bench.wrk import LoadSummary, Target, throughput

ECHO_BODY = b'{"order":{"id":42,"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]},"note":"bench"}'
ECHO_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
ECHO_CONNECTIONS = 32
SLOW_CONNECTIONS = 500
SLOW_MS = 1000


def _measure(ctx: Context, target: Target, connections: int, seconds: float) -> LoadSummary:
    return throughput(target, connections=connections, seconds=seconds, timeout=10, prefer_wrk=ctx.prefer_wrk)


def _echo(ctx: Context, app: ServerProcess, peer: ServerProcess) -> Outcome:
    seconds = ctx.seconds(4, 2)
    rounds = 1 if ctx.quick else 3
    ours = Target(app.port, "/v1/echo", "POST", ECHO_HEADERS, ECHO_BODY)
    theirs = Target(peer.port, "/anything", "POST", ECHO_HEADERS, ECHO_BODY)
    check = httpx.post(app.url + "/v1/echo", content=ECHO_BODY, headers=ECHO_HEADERS, timeout=5)
    check_peer = httpx.post(peer.url + "/anything", content=ECHO_BODY, headers=ECHO_HEADERS, timeout=5)
    if check.status_code != 200 or check.json().get("body", {}).get("order", {}).get("id") != 42:
        raise RuntimeError(f"/v1/echo answered {check.status_code} {check.text[:200]}")
    if check_peer.status_code != 200 or check_peer.json().get("json", {}).get("order", {}).get("id") != 42:
        raise RuntimeError(f"httpbin /anything answered {check_peer.status_code} {check_peer.text[:200]}")
    _measure(ctx, ours, ECHO_CONNECTIONS, 1)
    _measure(ctx, theirs, ECHO_CONNECTIONS, 1)
    subjects, baselines = alternate(
        rounds,
        lambda: _measure(ctx, ours, ECHO_CONNECTIONS, seconds),
        lambda: _measure(ctx, theirs, ECHO_CONNECTIONS, seconds),
    )
    return Outcome(
        "peer-echo",
        "Peer: POST /v1/echo (audited, payload capture) vs httpbin POST /anything",
        Measure("apitest POST /v1/echo", median_rps(subjects), "req/s"),
        Measure(f"httpbin POST /anything, gunicorn -k gevent -w {ctx.workers}", median_rps(baselines), "req/s"),
        "throughput apitest / httpbin",
        ">=",
        0.8,
        details={
            "connections": ECHO_CONNECTIONS,
            "round_seconds": seconds,
            "rounds": rounds,
            "p50_ms": latency(subjects, baselines, "p50_ms"),
            "p99_ms": latency(subjects, baselines, "p99_ms"),
            "subject_runs": [r.as_dict() for r in subjects],
            "baseline_runs": [r.as_dict() for r in baselines],
        },
        checks={"no errors or non-2xx": all(r.errors == 0 and r.non_2xx == 0 for r in subjects + baselines)},
    )


def _slow(ctx: Context, app: ServerProcess, peer: ServerProcess) -> Outcome:
    seconds = ctx.seconds(10, 4)
    ours = Target(app.port, f"/v1/slow?ms={SLOW_MS}")
    theirs = Target(peer.port, "/delay/1")
    subjects, baselines = alternate(
        1,
        lambda: _measure(ctx, ours, SLOW_CONNECTIONS, seconds),
        lambda: _measure(ctx, theirs, SLOW_CONNECTIONS, seconds),
    )
    ideal = SLOW_CONNECTIONS / (SLOW_MS / 1000)
    p99 = latency(subjects, baselines, "p99_ms")
    return Outcome(
        "peer-slow",
        f"Peer: /v1/slow?ms=1000 vs httpbin /delay/1, {SLOW_CONNECTIONS} concurrent clients",
        Measure(f"apitest /v1/slow?ms={SLOW_MS}", median_rps(subjects), "req/s"),
        Measure("httpbin /delay/1", median_rps(baselines), "req/s"),
        "throughput apitest / httpbin",
        ">=",
        0.9,
        details={
            "connections": SLOW_CONNECTIONS,
            "seconds": seconds,
            "ideal_rps": ideal,
            "p50_ms": latency(subjects, baselines, "p50_ms"),
            "p99_ms": p99,
            "subject_runs": [r.as_dict() for r in subjects],
            "baseline_runs": [r.as_dict() for r in baselines],
        },
        checks={
            "no errors or non-2xx from apitest": all(r.errors == 0 and r.non_2xx == 0 for r in subjects),
            # Each request sleeps 1 s; above that is queueing. Both queue a little under 500 clients, apitest also
            # behind its audit writer's batch inserts.
            "apitest p99 within 25% of httpbin's": p99["apitest"] <= p99["baseline"] * 1.25,
        },
    )


def run(ctx: Context) -> list[Outcome]:
    missing = servers.httpbin_missing()
    if missing:
        raise RuntimeError(missing)
    with pg.scratch_database("peer") as db_url:
        port = free_port()
        config = configs.apitest_config(
            ctx.log_dir / "peer.yaml", port=port, database_url=db_url, anonymous=True, workers=ctx.workers
        )
        with (
            servers.apitest(ctx, "peer-apitest", config, port) as app,
            servers.httpbin(ctx, "peer-httpbin", ctx.workers) as peer,
        ):
            return [_echo(ctx, app, peer), _slow(ctx, app, peer)]
