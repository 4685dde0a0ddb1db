"""Peers: apitest against go-httpbin (when its binary is present) and httpbin, all in one run.

- ``peer-go-get``: the bare Starlette route answering go-httpbin's ``/get`` bytes against go-httpbin ``GET /get``
  (``GOMAXPROCS=1``): how far Python's floor is below Go's, so the apitest rows can be read against both;
- ``peer-go-echo``: ``POST /v1/echo`` against go-httpbin ``POST /anything``, the same 1 KB JSON body;
- ``peer-echo``: ``POST /v1/echo`` against httpbin ``POST /anything`` (gunicorn ``-k gevent``, same worker count);
- ``peer-slow``: ``/v1/slow?ms=1000`` against httpbin ``/delay/1`` under 500 concurrent clients.

Every echo and ``/get`` target is measured in turns in each round (apitest, httpbin, go-httpbin, bare route), so
the ratios share their machine conditions. apitest runs as deployed for gateway tests: anonymous access allowed,
every request audited to PostgreSQL with payload capture, the JSON access log on; the peers do none of that.
The go-httpbin rows report a ratio without a bar (the issue sets none); httpbin's keep their bars.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bench import configs, pg, servers
from bench.common import alternate, in_turn, latency, median_rps
from bench.procs import ServerProcess, free_port
from bench.scenario import Context, Measure, Outcome, skipped
from bench.wrk import LoadSummary, Target, throughput


def _json_kb() -> bytes:
    """A 1 KB JSON order (1,024 bytes exactly)."""
    items = [{"sku": f"SKU-{i:04d}", "qty": i % 5 + 1, "price": 9.5 + i} for i in range(14)]
    doc = {"order": {"id": 42, "customer": "bench", "items": items}, "note": ""}
    base = len(json.dumps(doc, separators=(",", ":")).encode())
    doc["note"] = "n" * max(0, 1024 - base)
    body = json.dumps(doc, separators=(",", ":")).encode()
    return body


ECHO_BODY = _json_kb()
ECHO_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
CONNECTIONS = 32
SLOW_CONNECTIONS = 500
SLOW_MS = 1000


def _measure(ctx: Context, target: Target, connections: int, seconds: float) -> LoadSummary:
    return throughput(target, connections=connections, seconds=seconds, timeout=10, prefer_wrk=ctx.prefer_wrk)


def _clean(runs: list[LoadSummary]) -> bool:
    return all(r.errors == 0 and r.non_2xx == 0 for r in runs)


def _check_echo(url: str, path: str, field: str) -> None:
    response = httpx.post(url + path, content=ECHO_BODY, headers=ECHO_HEADERS, timeout=5)
    if response.status_code != 200 or response.json().get(field, {}).get("order", {}).get("id") != 42:
        raise RuntimeError(f"{url}{path} answered {response.status_code} {response.text[:200]}")


def _details(subjects: list[LoadSummary], baselines: list[LoadSummary], seconds: float) -> dict[str, object]:
    return {
        "connections": CONNECTIONS,
        "round_seconds": seconds,
        "rounds": len(subjects),
        "body_bytes": len(ECHO_BODY),
        "p50_ms": latency(subjects, baselines, "p50_ms"),
        "p99_ms": latency(subjects, baselines, "p99_ms"),
        "subject_runs": [r.as_dict() for r in subjects],
        "baseline_runs": [r.as_dict() for r in baselines],
    }


def _throughput_rows(
    ctx: Context, app: ServerProcess, peer: ServerProcess, go: ServerProcess | None, bare: ServerProcess | None
) -> list[Outcome]:
    seconds = ctx.round_length()
    targets: dict[str, Target] = {
        "apitest echo": Target(app.port, "/v1/echo", "POST", ECHO_HEADERS, ECHO_BODY),
        "httpbin echo": Target(peer.port, "/anything", "POST", ECHO_HEADERS, ECHO_BODY),
    }
    _check_echo(app.url, "/v1/echo", "body")
    _check_echo(peer.url, "/anything", "json")
    if go is not None and bare is not None:
        _check_echo(go.url, "/anything", "json")
        targets["go echo"] = Target(go.port, "/anything", "POST", ECHO_HEADERS, ECHO_BODY)
        targets["go get"] = Target(go.port, "/get")
        targets["bare get"] = Target(bare.port, "/v1/whoami")
    for target in targets.values():
        _measure(ctx, target, CONNECTIONS, 1)
    runs: dict[str, list[LoadSummary]] = {name: [] for name in targets}
    for index in range(ctx.rounds()):
        for name in in_turn(index, list(targets)):
            runs[name].append(_measure(ctx, targets[name], CONNECTIONS, seconds))
    apitest_echo = Measure("apitest POST /v1/echo, 1 KB JSON, audited", median_rps(runs["apitest echo"]), "req/s")
    outcomes = [
        Outcome(
            "peer-echo",
            "Peer: POST /v1/echo (audited, payload capture) vs httpbin POST /anything, 1 KB JSON",
            apitest_echo,
            Measure(
                f"httpbin POST /anything, gunicorn -k gevent -w {ctx.workers}",
                median_rps(runs["httpbin echo"]),
                "req/s",
            ),
            "throughput apitest / httpbin",
            ">=",
            0.8,
            details=_details(runs["apitest echo"], runs["httpbin echo"], seconds),
            checks={"no errors or non-2xx": _clean(runs["apitest echo"] + runs["httpbin echo"])},
        )
    ]
    if go is None or bare is None:
        reason = f"go-httpbin not found (${servers.GO_HTTPBIN_ENV} or {servers.GO_HTTPBIN_DEFAULT})"
        outcomes += [skipped("peer-go-get", "Peer: go-httpbin GET /get", reason)]
        outcomes += [skipped("peer-go-echo", "Peer: go-httpbin POST /anything", reason)]
        return outcomes
    outcomes += [
        Outcome(
            "peer-go-get",
            "Peer: bare Starlette route (go-httpbin's /get bytes) vs go-httpbin GET /get, GOMAXPROCS=1",
            Measure("bare Starlette route, same bytes", median_rps(runs["bare get"]), "req/s"),
            Measure("go-httpbin GET /get, GOMAXPROCS=1", median_rps(runs["go get"]), "req/s"),
            "throughput bare Starlette / go-httpbin",
            "info",
            0.0,
            details=_details(runs["bare get"], runs["go get"], seconds),
            checks={"no errors or non-2xx": _clean(runs["bare get"] + runs["go get"])},
        ),
        Outcome(
            "peer-go-echo",
            "Peer: POST /v1/echo (audited, payload capture) vs go-httpbin POST /anything, 1 KB JSON",
            apitest_echo,
            Measure("go-httpbin POST /anything, GOMAXPROCS=1", median_rps(runs["go echo"]), "req/s"),
            "throughput apitest / go-httpbin",
            "info",
            0.0,
            details=_details(runs["apitest echo"], runs["go echo"], seconds),
            checks={"no errors or non-2xx": _clean(runs["apitest echo"] + runs["go echo"])},
        ),
    ]
    return outcomes


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


def _go_and_bare(ctx: Context, binary: Path | None, config: Path) -> tuple[ServerProcess | None, ServerProcess | None]:
    if binary is None:
        return None, None
    go = servers.go_httpbin(ctx, "peer-go-httpbin", binary).start()
    try:
        body = httpx.get(go.url + "/get", timeout=5).content
        bare = servers.baseline(ctx, "peer-bare", config, body).start()
    except BaseException:
        go.stop()
        raise
    return go, bare


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
            go, bare = _go_and_bare(ctx, servers.go_httpbin_path(), config)
            try:
                outcomes = _throughput_rows(ctx, app, peer, go, bare)
            finally:
                for server in (go, bare):
                    if server is not None:
                        server.stop()
            return [*outcomes, _slow(ctx, app, peer)]
