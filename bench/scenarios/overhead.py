"""Overhead against a bare Starlette route answering the same bytes on the same uvicorn settings, one apitest
server and one baseline, four targets measured in turns:

- ``healthz``: ``GET /healthz`` through the full production middleware stack (request id, access log, metrics,
  CORS, errors, body limit, connection guard; no auth, no audit) against the bare route's ``/healthz``;
- ``overhead``: ``GET /v1/whoami`` with a file API key, audited to PostgreSQL with payloads and headers, against
  the bare ``/v1/whoami``.
"""

from __future__ import annotations

import httpx

from bench import configs, pg, servers
from bench.common import in_turn, latency, median_rps, writer_stats
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome
from bench.wrk import LoadSummary, Target, throughput

TITLE = "Overhead: /v1/whoami (file key, audit → PostgreSQL, payloads and headers) vs bare Starlette"
HEALTHZ_TITLE = "Stack: /healthz through the full middleware stack vs bare Starlette"
CONNECTIONS = 32
HEALTHZ_BAR = 0.80
WHOAMI_BAR = 0.45


def _details(subjects: list[LoadSummary], baselines: list[LoadSummary], seconds: float) -> dict[str, object]:
    return {
        "connections": CONNECTIONS,
        "round_seconds": seconds,
        "rounds": len(subjects),
        "subject_runs": [r.as_dict() for r in subjects],
        "baseline_runs": [r.as_dict() for r in baselines],
        "p50_ms": latency(subjects, baselines, "p50_ms"),
        "p99_ms": latency(subjects, baselines, "p99_ms"),
    }


def _clean(runs: list[LoadSummary]) -> bool:
    return all(r.errors == 0 and r.non_2xx == 0 for r in runs)


def run(ctx: Context) -> list[Outcome]:
    key = configs.new_key()
    seconds = ctx.round_length()
    rounds = ctx.rounds()
    with pg.scratch_database("overhead") as db_url:
        port = free_port()
        config = configs.apitest_config(
            ctx.log_dir / "overhead.yaml", port=port, database_url=db_url, key=key, workers=1
        )
        with servers.apitest(ctx, "overhead-apitest", config, port) as app:
            first = httpx.get(app.url + "/v1/whoami", headers={"X-API-Key": key}, timeout=5)
            if first.status_code != 200 or first.json().get("auth_type") != "apikey":
                raise RuntimeError(f"/v1/whoami with the bench key answered {first.status_code} {first.text[:200]}")
            health = httpx.get(app.url + "/healthz", timeout=5)
            with servers.baseline(ctx, "overhead-baseline", config, first.content) as base:
                same = httpx.get(base.url + "/v1/whoami", timeout=5)
                assert same.content == first.content, "baseline must answer the same bytes"
                assert httpx.get(base.url + "/healthz", timeout=5).content == health.content
                targets = {
                    "apitest healthz": Target(port, "/healthz"),
                    "bare healthz": Target(base.port, "/healthz"),
                    "apitest whoami": Target(port, "/v1/whoami", headers={"X-API-Key": key}),
                    "bare whoami": Target(base.port, "/v1/whoami"),
                }

                def measure(target: Target, secs: float = seconds) -> LoadSummary:
                    return throughput(target, connections=CONNECTIONS, seconds=secs, prefer_wrk=ctx.prefer_wrk)

                for target in targets.values():
                    measure(target, 1)
                runs: dict[str, list[LoadSummary]] = {name: [] for name in targets}
                for index in range(rounds):  # in turns, so drift on a shared machine hits every target alike
                    for name in in_turn(index, list(targets)):
                        runs[name].append(measure(targets[name]))
        served = sum(r.requests - r.non_2xx for r in runs["apitest whoami"])
        rows = pg.count_rows(db_url, "SELECT count(*) FROM audit_events WHERE path = '/v1/whoami'")
        payloads = pg.count_rows(db_url, "SELECT count(*) FROM audit_payloads")
        stats = writer_stats(app.log_path)
    dropped = int(str(stats.get("dropped_total", -1)))
    healthz = Outcome(
        "healthz",
        HEALTHZ_TITLE,
        Measure("apitest /healthz, full middleware stack", median_rps(runs["apitest healthz"]), "req/s"),
        Measure("bare Starlette /healthz, same bytes and uvicorn settings", median_rps(runs["bare healthz"]), "req/s"),
        "throughput apitest / bare Starlette",
        ">=",
        HEALTHZ_BAR,
        details=_details(runs["apitest healthz"], runs["bare healthz"], seconds),
        checks={"no errors or non-2xx": _clean(runs["apitest healthz"] + runs["bare healthz"])},
    )
    whoami = Outcome(
        "overhead",
        TITLE,
        Measure("apitest /v1/whoami, file key, audited with payloads", median_rps(runs["apitest whoami"]), "req/s"),
        Measure("bare Starlette route, same bytes and uvicorn settings", median_rps(runs["bare whoami"]), "req/s"),
        "throughput apitest / bare Starlette",
        ">=",
        WHOAMI_BAR,
        details={
            **_details(runs["apitest whoami"], runs["bare whoami"], seconds),
            "audit_rows": rows,
            "audit_payload_rows": payloads,
            "audit_dropped": dropped,
            "served_2xx_measured": served,
            "writer": stats,
        },
        checks={
            "no errors or non-2xx": _clean(runs["apitest whoami"] + runs["bare whoami"]),
            # wrk cuts off requests in flight when it stops, so the server may have served (and audited) a few
            # more than wrk counted; the saturation scenario compares rows with the server's own count.
            "every request audited or counted as dropped": dropped >= 0 and rows + dropped >= served,
            "every audit row has its payload": payloads == rows,
        },
    )
    return [healthz, whoami]
