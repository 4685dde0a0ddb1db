"""Workers: ``apitest serve --workers 2`` against ``--workers 1``, ``GET /v1/whoami`` with a file key audited to
PostgreSQL with payloads (each worker has its own audit writer), in turns.

Unlike the other scenarios the servers are not pinned to CPU 0: they may use every core of the machine (wrk
still runs on the runner's cores, so on a 2-core host it shares one with a worker; the ratio says how much a
second worker buys there, not on a dedicated host). The scaling ratio is reported without a bar (it depends on
the core count, which the table states); what is gated: with 2 workers every response has its audit row
(rows == the responses the workers counted, read from the shared ``/metrics``) and nothing was dropped.
"""

from __future__ import annotations

import os
import time

import httpx

from bench import configs, pg, servers
from bench.common import alternate, latency, median_rps, metric, metric_samples
from bench.procs import ServerProcess, free_port
from bench.scenario import Context, Measure, Outcome
from bench.scenarios.zero_loss import served_by_route
from bench.wrk import LoadSummary, Target, throughput

CONNECTIONS = 32
ROUTE = "whoami"


def all_cpus() -> str:
    return ",".join(str(c) for c in sorted(range(os.cpu_count() or 1)))


def _server(ctx: Context, workers: int, db_url: str, key: str) -> ServerProcess:
    port = free_port()
    name = f"workers-{workers}"
    config = configs.apitest_config(
        ctx.log_dir / f"{name}.yaml", port=port, database_url=db_url, key=key, workers=workers
    )
    return servers.apitest(ctx, name, config, port, cpus=all_cpus())


def run(ctx: Context) -> Outcome:
    key = configs.new_key()
    auth = {"X-API-Key": key}
    seconds = ctx.round_length()
    rounds = ctx.rounds()
    with pg.scratch_database("workers1") as one_url, pg.scratch_database("workers2") as two_url:
        with _server(ctx, 1, one_url, key) as one, _server(ctx, 2, two_url, key) as two:
            for server in (one, two):
                first = httpx.get(server.url + "/v1/whoami", headers=auth, timeout=5)
                if first.status_code != 200:
                    raise RuntimeError(f"{server.name}: /v1/whoami answered {first.status_code}")

            def measure(server: ServerProcess, secs: float = seconds) -> LoadSummary:
                target = Target(server.port, "/v1/whoami", headers=auth)
                return throughput(target, connections=CONNECTIONS, seconds=secs, prefer_wrk=ctx.prefer_wrk)

            measure(two, 1)
            measure(one, 1)
            twos, ones = alternate(rounds, lambda: measure(two), lambda: measure(one))
            time.sleep(1.5)  # requests wrk cut off finish; the workers' metrics files settle
            samples = metric_samples(two.url, auth)
            served = served_by_route(samples).get(ROUTE, 0)
            dropped_metric = metric(samples, "apitest_audit_events_dropped_total")
        # Both servers stopped: every writer drained.
        rows = pg.count_rows(two_url, "SELECT count(*) FROM audit_events WHERE path = '/v1/whoami'")
        stopped = _writers_stopped(two)
    cores = os.cpu_count() or 1
    return Outcome(
        "workers",
        f"Workers: /v1/whoami (file key, audited) with --workers 2 vs 1, {cores} cores, servers unpinned",
        Measure("apitest --workers 2", median_rps(twos), "req/s"),
        Measure("apitest --workers 1", median_rps(ones), "req/s"),
        "throughput 2 workers / 1 worker",
        "info",
        0.0,
        details={
            "cores": cores,
            "connections": CONNECTIONS,
            "round_seconds": seconds,
            "rounds": rounds,
            "p50_ms": latency(twos, ones, "p50_ms"),
            "p99_ms": latency(twos, ones, "p99_ms"),
            "subject_runs": [r.as_dict() for r in twos],
            "baseline_runs": [r.as_dict() for r in ones],
            "two_workers_rows": rows,
            "two_workers_served": served,
            "writers_stopped": stopped,
            "dropped_metric": dropped_metric,
        },
        checks={
            "no errors or non-2xx": all(r.errors == 0 and r.non_2xx == 0 for r in twos + ones),
            "2 workers: rows == responses": rows == served and served > 0,
            "2 workers: one writer each, 0 drops": len(stopped) == 2 and all(s == 0 for s in stopped),
        },
    )


def _writers_stopped(server: ServerProcess) -> list[int]:
    """``dropped_total`` of each worker's final ``audit writer stopped`` line."""
    import json

    found = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if '"audit writer stopped"' in line:
            try:
                found.append(int(json.loads(line).get("dropped_total", -1)))
            except ValueError:
                continue
    return found
