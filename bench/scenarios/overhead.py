"""Overhead: ``/v1/whoami`` with an API key, audited to Postgres with payload capture, against a bare
Starlette route answering the same bytes on the same uvicorn settings."""

from __future__ import annotations

import httpx

from bench import configs, pg, servers
from bench.common import alternate, latency, median_rps, writer_stats
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome
from bench.wrk import Target, throughput

TITLE = "Overhead: /v1/whoami (API key, audit → Postgres, payload capture) vs bare Starlette"
CONNECTIONS = 32


def run(ctx: Context) -> Outcome:
    key = configs.new_key()
    seconds = ctx.seconds(4, 2)
    rounds = 3 if not ctx.quick else 1
    with pg.scratch_database("overhead") as db_url:
        port = free_port()
        config = configs.apitest_config(
            ctx.log_dir / "overhead.yaml", port=port, database_url=db_url, key=key, workers=1
        )
        with servers.apitest(ctx, "overhead-apitest", config, port) as app:
            first = httpx.get(app.url + "/v1/whoami", headers={"X-API-Key": key}, timeout=5)
            if first.status_code != 200 or first.json().get("auth_type") != "apikey":
                raise RuntimeError(f"/v1/whoami with the bench key answered {first.status_code} {first.text[:200]}")
            with servers.baseline(ctx, "overhead-baseline", config, first.content) as base:
                same = httpx.get(base.url + "/v1/whoami", timeout=5)
                assert same.content == first.content, "baseline must answer the same bytes"
                subject_target = Target(port, "/v1/whoami", headers={"X-API-Key": key})
                base_target = Target(base.port, "/v1/whoami")

                def measure(target: Target, secs: float = seconds):  # noqa: ANN202
                    return throughput(target, connections=CONNECTIONS, seconds=secs, prefer_wrk=ctx.prefer_wrk)

                measure(subject_target, 1)
                measure(base_target, 1)
                subjects, baselines = alternate(rounds, lambda: measure(subject_target), lambda: measure(base_target))
        served = sum(r.requests - r.non_2xx for r in subjects)
        rows = pg.count_rows(db_url, "SELECT count(*) FROM audit_events WHERE path = '/v1/whoami'")
        payloads = pg.count_rows(db_url, "SELECT count(*) FROM audit_payloads")
        stats = writer_stats(app.log_path)
    dropped = int(str(stats.get("dropped_total", -1)))
    subject = Measure("apitest /v1/whoami, API key, audited with payloads", median_rps(subjects), "req/s")
    baseline = Measure("bare Starlette route, same bytes, same uvicorn settings", median_rps(baselines), "req/s")
    return Outcome(
        "overhead",
        TITLE,
        subject,
        baseline,
        "throughput apitest / bare Starlette",
        ">=",
        0.15,
        details={
            "connections": CONNECTIONS,
            "round_seconds": seconds,
            "rounds": rounds,
            "subject_runs": [r.as_dict() for r in subjects],
            "baseline_runs": [r.as_dict() for r in baselines],
            "p50_ms": latency(subjects, baselines, "p50_ms"),
            "p99_ms": latency(subjects, baselines, "p99_ms"),
            "audit_rows": rows,
            "audit_payload_rows": payloads,
            "audit_dropped": dropped,
            "served_2xx_measured": served,
            "writer": stats,
        },
        checks={
            "no errors or non-2xx": all(r.errors == 0 and r.non_2xx == 0 for r in subjects + baselines),
            # At saturation the writer may fall behind and shed events, counted; none may vanish. wrk cuts off
            # requests in flight when it stops, so the server may have served (and audited) a few more.
            "every request audited or counted as dropped": dropped >= 0 and rows + dropped >= served,
            "every audit row has its payload": payloads == rows,
        },
    )
