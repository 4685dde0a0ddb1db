"""Zero loss at saturation: the heaviest load the generator produces (wrk, 32 connections on its own core) for
60 s (``--saturation-seconds``) on ``GET /v1/whoami`` and ``POST /v1/echo`` in turn, a file API key, audit to
PostgreSQL with payloads and headers, the default buffer. Afterwards:

- the audit rows of each route equal the responses the server counted for it (``apitest_http_requests_total``
  by route, read after the load; wrk cuts off the requests in flight when it stops, so its own count can be
  up to one request per connection short of the server's, which is checked too);
- the writer dropped nothing (``dropped_total`` in its final log line and the metric), and every row has its
  payload.

Where wrk is missing the Python generator runs instead (it finishes the requests in flight, so its count is the
server's exactly).
"""

from __future__ import annotations

import re
import time

import httpx

from bench import configs, pg, servers
from bench.common import metric, metric_samples, wait_for, writer_stats
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome
from bench.wrk import Target, throughput

CONNECTIONS = 32
BODY = b'{"event":"saturation","values":[1,2,3],"nested":{"ok":true},"note":"' + b"x" * 160 + b'"}'
ROUTE_LABEL = re.compile(r'route="([^"]*)"')


def served_by_route(samples: dict[str, float]) -> dict[str, int]:
    """``apitest_http_requests_total`` summed per route label."""
    out: dict[str, int] = {}
    for name, value in samples.items():
        if not name.startswith("apitest_http_requests_total{"):
            continue
        found = ROUTE_LABEL.search(name)
        if found:
            out[found.group(1)] = out.get(found.group(1), 0) + int(value)
    return out


def run(ctx: Context) -> Outcome:
    seconds = ctx.seconds(ctx.zero_loss_seconds, min(ctx.zero_loss_seconds, 10))
    key = configs.new_key()
    auth = {"X-API-Key": key}
    with pg.scratch_database("saturation") as db_url:
        port = free_port()
        config = configs.apitest_config(
            ctx.log_dir / "saturation.yaml", port=port, database_url=db_url, key=key, workers=1
        )
        with servers.apitest(ctx, "saturation-apitest", config, port) as app:
            targets = [
                Target(port, "/v1/whoami", headers=auth),
                Target(port, "/v1/echo", "POST", {**auth, "Content-Type": "application/json"}, BODY),
            ]
            before = served_by_route(metric_samples(app.url, auth))
            for t in targets:  # one of each, to learn the route labels (and check the key)
                first = httpx.request(t.method, app.url + t.path, headers=t.headers, content=t.body, timeout=5)
                if first.status_code != 200:
                    raise RuntimeError(f"{t.method} {t.path} with the bench key answered {first.status_code}")
            probed = served_by_route(metric_samples(app.url, auth))
            # /v1 operations are labelled by name; other routes by their path template (/metrics counts itself).
            routes = sorted(r for r, n in probed.items() if n > before.get(r, 0) and not r.startswith("/"))
            if len(routes) != len(targets):
                raise RuntimeError(f"could not tell the routes' labels apart: {before} -> {probed}")
            load = throughput(targets, connections=CONNECTIONS, seconds=seconds, prefer_wrk=ctx.prefer_wrk)
            load_done = time.monotonic()
            time.sleep(1.5)  # requests wrk cut off finish; metrics of the writer settle
            served = served_by_route(metric_samples(app.url, auth))
            rows_sql = "SELECT count(*) FROM audit_events WHERE path IN ('/v1/whoami', '/v1/echo')"
            expected = sum(served.get(r, 0) for r in routes)
            caught_up = wait_for(lambda: pg.count_rows(db_url, rows_sql) >= expected, timeout=60)
            catch_up_s = time.monotonic() - load_done
            dropped_metric = metric(metric_samples(app.url, auth), "apitest_audit_events_dropped_total")
            rss = app.peak_rss_mib()
        stats = writer_stats(app.log_path)
        by_route = {str(route): int(str(count)) for route, count in pg_rows_by_route(db_url)}  # after the drain
        payload_rows = pg.count_rows(
            db_url,
            "SELECT count(*) FROM audit_payloads p JOIN audit_events e ON e.id = p.event_id "
            "WHERE e.path IN ('/v1/whoami', '/v1/echo')",
        )
    rows = sum(by_route.get(r, 0) for r in routes)
    server_count = sum(served.get(r, 0) for r in routes)
    dropped = stats.get("dropped_total")
    return Outcome(
        "zero-loss",
        f"Zero loss at saturation: {seconds:.0f} s of wrk -c{CONNECTIONS} on /v1/whoami + POST /v1/echo, audited",
        Measure(f"audit rows ({load.rps:,.0f} req/s offered and served)", rows, "rows"),
        Measure("responses the server counted", server_count, "responses"),
        "audit rows / responses",
        "==",
        1.0,
        details={
            "seconds": seconds,
            "connections": CONNECTIONS,
            "load": load.as_dict(),
            "routes": routes,
            "rows_by_route": by_route,
            "served_by_route": served,
            "audit_payload_rows": payload_rows,
            "writer": stats,
            "dropped_metric": dropped_metric,
            "caught_up_while_serving": caught_up,
            "catch_up_after_load_s": round(catch_up_s, 2),
            "peak_rss_mib": round(rss, 1),
        },
        checks={
            "drops 0": dropped == 0 and not dropped_metric,
            "no client errors": load.errors == 0 and load.non_2xx == 0,
            "rows == responses, per route": all(by_route.get(r, 0) == served.get(r, 0) for r in routes),
            "client count within one per connection": load.requests
            <= rows
            <= load.requests + CONNECTIONS + len(targets),
            "every event has its payload": payload_rows == rows,
        },
    )


def pg_rows_by_route(db_url: str) -> list[tuple[object, object]]:
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def fetch() -> list[tuple[object, object]]:
        conn = await asyncpg.connect(pg.asyncpg_url(db_url), timeout=10)
        try:
            records = await conn.fetch(
                "SELECT route_name, count(*) FROM audit_events WHERE path IN ('/v1/whoami', '/v1/echo') "
                "GROUP BY route_name"
            )
            return [(r[0], r[1]) for r in records]
        finally:
            await conn.close()

    return asyncio.run(fetch())
