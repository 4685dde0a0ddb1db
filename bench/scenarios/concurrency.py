"""Concurrency: 2,000 clients at once, each ``GET /v1/slow?ms=3000`` on its own connection. Every one must be
answered 200; wall time (first connect to last answer) and the server's peak RSS are compared with the bare
Starlette baseline sleeping the same 3 s under the same uvicorn settings."""

from __future__ import annotations

import httpx

from bench import configs, loadgen, pg, servers
from bench.procs import ServerProcess, free_port
from bench.scenario import Context, Measure, Outcome

CLIENTS = 2000
SLOW_MS = 3000


def _burst(server: ServerProcess, clients: int) -> loadgen.LoadResult:
    payload = loadgen.build_request("GET", f"/v1/slow?ms={SLOW_MS}", server.port)
    result: loadgen.LoadResult = loadgen.run(
        loadgen.burst(server.port, payload, clients=clients, request_timeout=SLOW_MS / 1000 + 30)
    )
    return result


def run(ctx: Context) -> list[Outcome]:
    clients = 500 if ctx.quick else CLIENTS
    rounds = 1 if ctx.quick else 2
    with pg.scratch_database("concurrency") as db_url:
        port = free_port()
        config = configs.apitest_config(
            ctx.log_dir / "concurrency.yaml", port=port, database_url=db_url, anonymous=True, workers=1
        )
        with servers.apitest(ctx, "concurrency-apitest", config, port) as app:
            body = httpx.get(app.url + "/v1/whoami", timeout=5).content
            with servers.baseline(ctx, "concurrency-baseline", config, body) as base:
                idle_app, idle_base = app.rss_mib(), base.rss_mib()
                runs: list[tuple[loadgen.LoadResult, loadgen.LoadResult]] = []
                for _ in range(rounds):  # in turns; the best round of each counts (noise only adds time)
                    runs.append((_burst(app, clients), _burst(base, clients)))
                ours_rss, theirs_rss = app.peak_rss_mib(), base.peak_rss_mib()
        rows = pg.count_rows(db_url, "SELECT count(*) FROM audit_events WHERE path = '/v1/slow' AND status = 200")
    ours = min((r[0] for r in runs), key=lambda r: r.elapsed)
    theirs = min((r[1] for r in runs), key=lambda r: r.elapsed)
    answered = sum(r[0].statuses.get(200, 0) for r in runs)
    details = {
        "clients": clients,
        "sleep_ms": SLOW_MS,
        "rounds": rounds,
        "apitest": ours.summary(),
        "baseline": theirs.summary(),
        "wall_s_every_round": {
            "apitest": [round(r[0].elapsed, 3) for r in runs],
            "baseline": [round(r[1].elapsed, 3) for r in runs],
        },
        "idle_rss_mib": {"apitest": round(idle_app, 1), "baseline": round(idle_base, 1)},
        "peak_rss_mib": {"apitest": round(ours_rss, 1), "baseline": round(theirs_rss, 1)},
        "audit_rows_200": rows,
    }
    all_answered = {
        "all answered 200": all(r[0].statuses.get(200, 0) == clients and not r[0].errors for r in runs),
        "baseline all answered 200": all(r[1].statuses.get(200, 0) == clients and not r[1].errors for r in runs),
    }
    wall = Outcome(
        "concurrency",
        f"Concurrency: {clients} concurrent /v1/slow?ms={SLOW_MS}, wall time",
        Measure(f"apitest, {ours.statuses.get(200, 0)}/{clients} answered 200", ours.elapsed, "s"),
        Measure(f"bare Starlette sleep, {theirs.statuses.get(200, 0)}/{clients} answered", theirs.elapsed, "s"),
        "wall time apitest / bare Starlette",
        "<=",
        1.25,
        details=details,
        checks={**all_answered, "every answer audited": rows == answered},
    )
    rss = Outcome(
        "concurrency-rss",
        f"Concurrency: peak RSS during {clients} concurrent /v1/slow",
        Measure("apitest peak RSS", ours_rss, "MiB"),
        Measure("bare Starlette peak RSS", theirs_rss, "MiB"),
        "peak RSS apitest / bare Starlette",
        "<=",
        2.0,
        details=details,
    )
    return [wall, rss]
