"""The portal's audit list stays fast on a big log: 1,000,000 rows in PostgreSQL, first and filtered pages.

    .venv/bin/python -m bench.portal_audit [--rows 1000000] [--runs 30] [--quick] [--database-url URL] [--seed-only URL]

``make bench`` runs the same measurement as its ``portal`` scenario. In one run, on loopback only:

1. a scratch database on the local PostgreSQL (``APITEST_BENCH_DATABASE_URL`` or
   ``postgresql://postgres@127.0.0.1:5432``), migrated to head;
2. ``--rows`` audit events spread over the last 7 days, each with a payload (headers, query, small JSON
   bodies), written by ``INSERT ... SELECT FROM generate_series`` in the database (no row-by-row
   inserts), then ``VACUUM ANALYZE`` (what autovacuum soon does to an insert-only table);
3. one ``apitest serve`` on 127.0.0.1 with the portal and the audit on that database;
4. each request below ``--runs`` times in turn (after two warm-up rounds), with an API key, timing the
   whole HTTP exchange; median and p95 per request.

The bar: the p95 of every gated request (the first page and the filtered pages, JSON and HTML) is
under 200 ms. Free text over every row is reported too but not gated: it cannot use an index and is
meant to be combined with a time window (see ``docs/portal.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from apitest.db.engine import upgrade
from bench import configs, pg, servers
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome

TITLE = "Portal audit list over 1,000,000 PostgreSQL rows: first and filtered pages"
BAR_MS = 200.0
UNGATED_RUNS = 5  # the informational requests (a full-table text search) are slow by nature: time them less
SPAN_SECONDS = 7 * 24 * 3600
# (method, path, route_name, endpoint_group) by row number modulo 8; status rows get their code appended.
ROUTES = [
    ("GET", "/v1/whoami", "whoami", "identity"),
    ("GET", "/v1/headers", "headers", "identity"),
    ("POST", "/v1/echo", "echo_post", "echo"),
    ("GET", "/v1/status/", "status", "failure"),
    ("GET", "/v1/json", "json", "data"),
    ("GET", "/v1/items", "items", "pagination"),
    ("GET", "/v1/slow", "slow", "failure"),
    ("PUT", "/v1/echo", "echo_put", "echo"),
]


def _array(index: int) -> str:
    return "ARRAY[" + ", ".join("'" + r[index] + "'" for r in ROUTES) + "]"


# Status by row modulo 100: 80 % 200, 5 % 201, 5 % 404, 3 % 401, 4 % 500, 3 % 503.
STATUS = (
    "CASE WHEN g % 100 < 80 THEN 200 WHEN g % 100 < 85 THEN 201 WHEN g % 100 < 90 THEN 404 "
    "WHEN g % 100 < 93 THEN 401 WHEN g % 100 < 97 THEN 500 ELSE 503 END"
)
EVENT_ID = "uuid_in(md5('ev' || g)::cstring)::text"

SEED_EVENTS = f"""
INSERT INTO audit_events (id, ts, duration_ms, request_id, user_subject, user_email, auth_type, api_key_name, method,
    path, route_name, endpoint_group, status, bytes_in, bytes_out, success, error_message, error_category, remote_addr,
    user_agent, source, recorded_at)
SELECT id, ts, duration, request_id,
    CASE WHEN status = 401 THEN NULL WHEN g % 10 = 9 THEN 'user' || (g % 500) || '@example.com'
        ELSE 'key-' || (g % 50) END,
    CASE WHEN status <> 401 AND g % 10 = 9 THEN 'user' || (g % 500) || '@example.com' END,
    CASE WHEN status = 401 THEN NULL WHEN g % 10 = 9 THEN 'oidc' WHEN g % 10 = 8 THEN 'bearer' ELSE 'apikey' END,
    CASE WHEN status = 401 OR g % 10 = 9 THEN NULL ELSE 'key-' || (g % 50) END,
    ({_array(0)})[r + 1], CASE WHEN r = 3 THEN '/v1/status/' || status ELSE ({_array(1)})[r + 1] END,
    ({_array(2)})[r + 1], ({_array(3)})[r + 1],
    status, CASE WHEN r IN (2, 7) THEN 40 + g % 200 ELSE 0 END, 120 + g % 900, status < 400,
    CASE WHEN status = 401 THEN 'no credential presented' WHEN status >= 500 THEN 'handler answered ' || status END,
    CASE status WHEN 401 THEN 'missing_credential' WHEN 404 THEN 'not_found' WHEN 500 THEN 'server_error'
        WHEN 503 THEN 'server_error' END,
    '10.0.' || (g % 250) || '.' || (g % 200) || ':' || (30000 + g % 30000), 'gateway/' || (g % 7),
    CASE WHEN g % 1000 = 0 THEN 'replay' WHEN g % 250 = 0 THEN 'tryit' ELSE 'wire' END,
    ts + make_interval(secs => duration / 1000.0)
FROM (
    SELECT g, g % 8 AS r, {STATUS} AS status, {EVENT_ID} AS id,
        uuid_in(md5('rq' || g)::cstring)::text AS request_id, (g * 7919) % 250 AS duration,
        $1::timestamptz - make_interval(secs => ($2 - g) * $3::float8) AS ts
    FROM generate_series($4::bigint, $5::bigint) AS g
) AS rows
"""

SEED_PAYLOADS = f"""
INSERT INTO audit_payloads (event_id, request_headers, request_query, request_content_type, request_body,
    request_size_bytes, request_truncated, request_remote_addr, response_headers, response_content_type, response_body,
    response_size_bytes, response_truncated, captured_at)
SELECT {EVENT_ID},
    jsonb_build_object('Accept', jsonb_build_array('*/*'), 'User-Agent', jsonb_build_array('gateway/' || (g % 7)),
        'X-Api-Key', jsonb_build_array('[redacted]'), 'X-Forwarded-For', jsonb_build_array('203.0.113.' || (g % 250))),
    jsonb_build_object('page', jsonb_build_array((g % 20)::text)),
    'application/json', convert_to('{{"order": ' || g || ', "note": "n' || (g % 1000) || '"}}', 'UTF8'), 30, false,
    '10.0.0.1:40000',
    jsonb_build_object('Content-Type', jsonb_build_array('application/json'),
        'X-Request-Id', jsonb_build_array(uuid_in(md5('rq' || g)::cstring)::text)),
    'application/json', convert_to('{{"ok": true, "n": ' || g || '}}', 'UTF8'), 20, false, now()
FROM generate_series($1::bigint, $2::bigint) AS g
"""


SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
WHERE i.schemaname = current_schema() AND i.tablename IN ('audit_events', 'audit_payloads')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
"""


async def seed(url: str, rows: int, chunk: int = 250_000) -> float:
    """Fill ``url`` with ``rows`` events and payloads; returns the seconds it took."""
    started = time.monotonic()
    conn = await asyncpg.connect(pg.asyncpg_url(url), timeout=10, command_timeout=3600)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        # Bulk load, then index: building the secondary indexes once from their own definitions is about a third
        # faster than maintaining them row by row (66 s against 96 s for 1,000,000 rows), which keeps make bench
        # within its 10 minutes. Constraint indexes (primary keys) stay.
        indexes = await conn.fetch(SECONDARY_INDEXES)
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        now = await conn.fetchval("SELECT now()")
        spacing = SPAN_SECONDS / rows
        for first in range(1, rows + 1, chunk):
            last = min(rows, first + chunk - 1)
            await conn.execute(SEED_EVENTS, now, rows, spacing, first, last)
            await conn.execute(SEED_PAYLOADS, first, last)
            print(f"   portal: seeded {last:,} / {rows:,} rows ({time.monotonic() - started:.0f} s)", flush=True)
        for index in indexes:
            await conn.execute(index["indexdef"])
        print(f"   portal: {len(indexes)} indexes built ({time.monotonic() - started:.0f} s)", flush=True)
        # What autovacuum does to an insert-only table soon after: statistics and the visibility map.
        await conn.execute("VACUUM ANALYZE audit_events")
        await conn.execute("VACUUM ANALYZE audit_payloads")
    finally:
        await conn.close()
    return time.monotonic() - started


@dataclass
class Probe:
    name: str
    path: str
    gated: bool = True


def probes(next_token: str) -> list[Probe]:
    api = "/api/v1/portal/audit/events"
    return [
        Probe("JSON first page", api),
        Probe("JSON status=5xx", f"{api}?status=5xx"),
        Probe("JSON route_name=whoami&success=false", f"{api}?route_name=whoami&success=false"),
        Probe("JSON caller=key-7", f"{api}?caller=key-7"),
        Probe("JSON method=POST&status=201", f"{api}?method=POST&status=201"),
        Probe("JSON auth_type=oidc&last=24h", f"{api}?auth_type=oidc&last=24h"),
        Probe("JSON source=replay", f"{api}?source=replay"),
        Probe("JSON path contains 'status/50'", f"{api}?path=status%2F50"),
        Probe("JSON status=5xx, second page", f"{api}?status=5xx&next={next_token}"),
        Probe("JSON q=gateway/3&last=1h", f"{api}?q=gateway%2F3&last=1h"),
        Probe("HTML /portal/audit", "/portal/audit"),
        Probe("HTML /portal/audit?status=5xx&method=GET", "/portal/audit?status=5xx&method=GET"),
        Probe("JSON q over all rows (not gated)", f"{api}?q=n-no-such-text", gated=False),
        Probe("JSON dashboard, last 1h (not gated)", "/api/v1/portal/dashboard?last=1h", gated=False),
    ]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))]


def measure(base: str, key: str, runs: int) -> list[dict[str, Any]]:
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        first = client.get("/api/v1/portal/audit/events?status=5xx")
        if first.status_code != 200:
            raise RuntimeError(f"audit events answered {first.status_code}: {first.text[:300]}")
        table = probes(first.json()["next"])
        timings: dict[str, list[float]] = {p.name: [] for p in table}
        statuses: dict[str, set[int]] = {p.name: set() for p in table}
        counts: dict[str, int] = {}
        for round_number in range(runs + 2):
            for probe in table:
                if not probe.gated and round_number >= UNGATED_RUNS + 2:
                    continue
                started = time.perf_counter()
                response = client.get(probe.path)
                elapsed = (time.perf_counter() - started) * 1000
                statuses[probe.name].add(response.status_code)
                if round_number >= 2:  # two warm-up rounds
                    timings[probe.name].append(elapsed)
                if round_number == 0 and probe.path.startswith("/api/v1/portal/audit/events"):
                    counts[probe.name] = len(response.json().get("events", []))
    return [
        {
            "name": p.name,
            "path": p.path,
            "gated": p.gated,
            "median_ms": round(statistics.median(timings[p.name]), 1),
            "p95_ms": round(percentile(timings[p.name], 0.95), 1),
            "max_ms": round(max(timings[p.name]), 1),
            "statuses": sorted(statuses[p.name]),
            "rows_on_page": counts.get(p.name),
        }
        for p in table
    ]


def table_text(results: list[dict[str, Any]]) -> str:
    lines = [f"{'request':48} {'median':>9} {'p95':>9} {'rows':>5}  gated"]
    for r in results:
        rows = "" if r["rows_on_page"] is None else str(r["rows_on_page"])
        median, p95 = f"{r['median_ms']} ms", f"{r['p95_ms']} ms"
        lines.append(f"{r['name']:48} {median:>9} {p95:>9} {rows:>5}  {'yes' if r['gated'] else 'no'}")
    return "\n".join(lines)


def serve_and_measure(ctx: Context, url: str, runs: int) -> list[dict[str, Any]]:
    """``apitest serve`` on the seeded database ``url``; time every probe."""
    workdir = Path(tempfile.mkdtemp(prefix="apitest-bench-portal-", dir=ctx.log_dir))
    port = free_port()
    key = configs.new_key()
    extra = {"portal": {"enabled": True, "cookie_secret": configs.new_key()}, "database": {"migrate_on_boot": False}}
    config = configs.apitest_config(workdir / "portal.yaml", port=port, database_url=url, key=key, extra=extra)
    with servers.apitest(ctx, "portal", config, port) as app:
        return measure(app.url, key, runs)


def run(ctx: Context, *, rows: int = 1_000_000, runs: int = 0, database_url: str = "") -> Outcome:
    """The ``portal`` scenario of ``make bench``. ``database_url``: measure an already seeded database."""
    runs = runs or (5 if ctx.quick else 30)
    rows = min(rows, 100_000) if ctx.quick else rows
    seed_seconds = 0.0
    if database_url:
        results = serve_and_measure(ctx, database_url, runs)
    else:
        if not pg.available():
            raise RuntimeError(f"PostgreSQL is not reachable at {pg.server_url()} (set APITEST_BENCH_DATABASE_URL)")
        with pg.scratch_database("portal") as url:
            upgrade(url)
            seed_seconds = asyncio.run(seed(url, rows))
            results = serve_and_measure(ctx, url, runs)
    print(table_text(results), flush=True)
    gated = [r for r in results if r["gated"]]
    worst = max(gated, key=lambda r: r["p95_ms"])
    return Outcome(
        "portal",
        TITLE if rows == 1_000_000 else TITLE.replace("1,000,000", f"{rows:,}"),
        Measure(f"slowest gated p95: {worst['name']}", worst["p95_ms"], "ms"),
        Measure("target", BAR_MS, "ms"),
        "p95 / 200 ms",
        "<=",
        1.0,
        details={"rows": rows, "runs": runs, "seed_seconds": round(seed_seconds, 1), "requests": results},
        checks={"every request answered 200": all(r["statuses"] == [200] for r in results)},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.portal_audit", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit rows to seed (default 1000000)")
    parser.add_argument("--runs", type=int, default=0, help="timed rounds per request (default 30, quick 5)")
    parser.add_argument("--quick", action="store_true", help="100,000 rows and 5 rounds")
    parser.add_argument(
        "--database-url", default="", help="measure this already seeded postgresql+asyncpg:// database (no seeding)"
    )
    parser.add_argument("--seed-only", default="", metavar="URL", help="migrate and seed this database, then stop")
    args = parser.parse_args(argv)
    if args.seed_only:
        upgrade(args.seed_only)
        print(f"portal: seeded {args.rows:,} rows in {asyncio.run(seed(args.seed_only, args.rows)):.0f} s")
        return 0
    log_dir = Path(tempfile.mkdtemp(prefix="apitest-bench-"))
    ctx = Context(results_dir=log_dir, log_dir=log_dir, quick=args.quick, server_cpus=None)
    outcome = run(ctx, rows=args.rows, runs=args.runs, database_url=args.database_url)
    verdict = "pass" if outcome.passed else "FAIL"
    print(f"portal: {outcome.subject.text()} (bar {BAR_MS:g} ms): {verdict}; server log in {log_dir}")
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
