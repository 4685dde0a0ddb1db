"""The portal at scale: the 7-day dashboard and free text with no time window, on PostgreSQL and SQLite.

    .venv/bin/python -m bench.portal_scale [--backend postgresql|sqlite|both] [--rows N] [--runs 20] [--quick] [--keep]

One run per backend, on loopback only:

1. a scratch database: PostgreSQL (``APITEST_BENCH_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432``)
   with 1,000,000 events, or a SQLite file with 200,000, spread evenly over the last 7 days, each with a
   payload (the seed of :mod:`bench.portal_audit`: ``INSERT ... SELECT FROM generate_series`` on PostgreSQL,
   ``executemany`` on SQLite), migrated to head; then the rollup recounted from the rows
   (:func:`apitest.audit.rollups.rebuild`, what migration ``0011_audit_rollups`` does for existing rows);
2. one ``apitest serve`` with the portal and the audit on that database;
3. each request ``--runs`` times in turn (after two warm-up rounds), with an API key; median and p95 each.

The bars (issue #14): the dashboard over ``last=7d`` (JSON and HTML) within 300 ms at p95; free text with no
time window within 500 ms at p95 (a rare term, a term found on every page, and a term found nowhere).

``--keep`` seeds once and reuses: the PostgreSQL database ``apitest_bench_scale_keep_<rows>`` and the SQLite file
``<tmp>/apitest-bench-scale-keep-<rows>.db`` are left in place and, when they already hold ``rows`` events, are
migrated to head and measured again without seeding (their rows age: ``last=7d`` covers fewer of them as days
pass). Drop them by hand (``dropdb``, ``rm``) when done.

``make bench`` (bench/run.py) calls :func:`run` once per backend: ``run(ctx, backend="postgresql")`` and
``run(ctx, backend="sqlite")``; each returns a :class:`bench.scenario.Outcome` whose subject is the slowest
p95 as a fraction of its bar (``<= 1.0`` passes), with every request's numbers in ``details["requests"]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apitest.audit import rollups
from apitest.db.engine import Database, upgrade
from bench import configs, pg, portal_audit, servers
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome

DASHBOARD_BAR_MS = 300.0
SEARCH_BAR_MS = 500.0
ROWS = {"postgresql": 1_000_000, "sqlite": 200_000}
QUICK_ROWS = {"postgresql": 100_000, "sqlite": 50_000}


def probes() -> list[tuple[str, str, float]]:
    api = "/api/v1/portal"
    return [
        ("JSON dashboard last=7d", f"{api}/dashboard?last=7d", DASHBOARD_BAR_MS),
        ("HTML dashboard last=7d", "/portal/?last=7d", DASHBOARD_BAR_MS),
        ("JSON q=n777 (rare), no window", f"{api}/audit/events?q=%22n777%22", SEARCH_BAR_MS),
        ("JSON q=gateway/3 (common), no window", f"{api}/audit/events?q=gateway%2F3", SEARCH_BAR_MS),
        ("JSON q=no-such-text, no window", f"{api}/audit/events?q=no-such-text", SEARCH_BAR_MS),
        ("HTML audit q=n777, no window", "/portal/audit?q=%22n777%22", SEARCH_BAR_MS),
    ]


def rebuild_rollups(url: str) -> float:
    """Recount the rollup from the seeded rows (what migration 0011 does); returns the seconds it took."""

    async def go() -> None:
        database = Database(url)
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(rollups.rebuild)
        finally:
            await database.dispose()

    started = time.monotonic()
    asyncio.run(go())
    return time.monotonic() - started


def seed_sqlite(path: Path, rows: int, chunk: int = 20_000) -> float:
    """``rows`` events with payloads over the last 7 days, shaped like :mod:`bench.portal_audit`'s seed."""
    started = time.monotonic()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = datetime.now(UTC).replace(tzinfo=None)
    spacing = 7 * 86400 / rows
    rng = random.Random(14)
    status_of = [200] * 80 + [201] * 5 + [404] * 5 + [401] * 3 + [500] * 4 + [503] * 3
    for first in range(1, rows + 1, chunk):
        events, payloads = [], []
        for g in range(first, min(rows, first + chunk - 1) + 1):
            r = g % 8
            method, target, route, group = portal_audit.ROUTES[r]
            status = status_of[g % 100]
            target = f"{target}{status}" if r == 3 else target
            email = f"user{g % 500}@example.com" if g % 10 == 9 and status != 401 else None
            key = None if status == 401 or g % 10 == 9 else f"key-{g % 50}"
            subject = None if status == 401 else (email or f"key-{g % 50}")
            ts = now - timedelta(seconds=(rows - g) * spacing)
            event_id = str(uuid.UUID(int=rng.getrandbits(128)))
            stamp = ts.strftime("%Y-%m-%d %H:%M:%S.%f")
            events.append(
                (event_id, stamp, float((g * 7919) % 250), subject, email, key, method, target, route, group, status)
                + (status < 400, f"handler answered {status}" if status >= 500 else None, f"gateway/{g % 7}", stamp)
            )
            headers = f'{{"Accept": ["*/*"], "User-Agent": ["gateway/{g % 7}"], "X-Api-Key": ["[redacted]"]}}'
            body = f'{{"order": {g}, "note": "n{g % 1000}"}}'.encode()
            payloads.append(
                (event_id, headers, f'{{"page": ["{g % 20}"]}}', body, f'{{"ok": true, "n": {g}}}'.encode())
            )
        conn.executemany(
            "INSERT INTO audit_events (id, ts, duration_ms, user_subject, user_email, api_key_name, method, path, "
            "route_name, endpoint_group, status, success, error_message, user_agent, recorded_at, bytes_in, "
            "bytes_out, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 'wire')",
            events,
        )
        conn.executemany(
            "INSERT INTO audit_payloads (event_id, request_headers, request_query, request_content_type, "
            "request_body, request_size_bytes, request_truncated, response_body, response_size_bytes, "
            "response_truncated, captured_at) VALUES (?, ?, ?, 'application/json', ?, 30, 0, ?, 20, 0, "
            "'2026-12-02 00:00:00.000000')",
            payloads,
        )
        conn.commit()
        print(f"   portal-scale: seeded {min(rows, first + chunk - 1):,} / {rows:,} SQLite rows", flush=True)
    conn.execute("ANALYZE")
    conn.close()
    return time.monotonic() - started


def measure(base: str, key: str, runs: int) -> list[dict[str, Any]]:
    import httpx

    table = probes()
    timings: dict[str, list[float]] = {name: [] for name, _, _ in table}
    statuses: dict[str, set[int]] = {name: set() for name, _, _ in table}
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as client:
        for round_number in range(runs + 2):
            for name, path, _ in table:
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                statuses[name].add(response.status_code)
                if round_number >= 2:
                    timings[name].append(elapsed)
    return [
        {
            "name": name,
            "path": path,
            "bar_ms": bar,
            "median_ms": round(sorted(timings[name])[len(timings[name]) // 2], 1),
            "p95_ms": round(portal_audit.percentile(timings[name], 0.95), 1),
            "max_ms": round(max(timings[name]), 1),
            "statuses": sorted(statuses[name]),
        }
        for name, path, bar in table
    ]


def serve_and_measure(ctx: Context, url: str, runs: int) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="apitest-bench-scale-", dir=ctx.log_dir))
    port = free_port()
    key = configs.new_key()
    extra = {"portal": {"enabled": True, "cookie_secret": configs.new_key()}, "database": {"migrate_on_boot": False}}
    config = configs.apitest_config(workdir / "portal.yaml", port=port, database_url=url, key=key, extra=extra)
    with servers.apitest(ctx, "portal-scale", config, port) as app:
        return measure(app.url, key, runs)


def table_text(results: list[dict[str, Any]]) -> str:
    lines = [f"{'request':42} {'median':>10} {'p95':>10} {'bar':>8}"]
    for r in results:
        lines.append(f"{r['name']:42} {r['median_ms']:>7} ms {r['p95_ms']:>7} ms {r['bar_ms']:>5g} ms")
    return "\n".join(lines)


KEEP_PREFIX = "apitest_bench_scale_keep"


def kept_sqlite(rows: int) -> Path:
    return Path(tempfile.gettempdir()) / f"{KEEP_PREFIX.replace('_', '-')}-{rows}.db"


def seeded_rows(url: str) -> int:
    """Events already in a kept database (0 when it is missing or was never migrated)."""
    try:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1]
            if not Path(path).exists():
                return 0
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return int(conn.execute("SELECT count(*) FROM audit_events").fetchone()[0])
        return pg.count_rows(url, "SELECT count(*) FROM audit_events")
    except Exception:
        return 0


@contextlib.contextmanager
def database(ctx: Context, backend: str, rows: int, keep: bool) -> Iterator[tuple[str, bool]]:
    """The URL to measure and whether it still needs its rows: a scratch database, or the kept one."""
    if backend == "postgresql":
        if not pg.available():
            raise RuntimeError(f"PostgreSQL is not reachable at {pg.server_url()} (set APITEST_BENCH_DATABASE_URL)")
        if not keep:
            with pg.scratch_database("scale") as url:
                yield url, True
            return
        url = pg.kept_database(f"{KEEP_PREFIX}_{rows}")
    else:
        path = kept_sqlite(rows) if keep else Path(tempfile.mkdtemp(prefix="apitest-bench-scale-", dir=ctx.log_dir))
        url = f"sqlite+aiosqlite:///{path if keep else path / 'audit.db'}"
    have = seeded_rows(url) if keep else 0
    if keep and have and have != rows:
        raise RuntimeError(f"the kept database {url} holds {have:,} events, not {rows:,}: drop it first")
    yield url, have == 0


def run(ctx: Context, *, backend: str = "postgresql", rows: int = 0, runs: int = 0, keep: bool = False) -> Outcome:
    """One backend's scenario (``backend``: ``postgresql`` or ``sqlite``); ``keep`` seeds once and reuses."""
    rows = rows or (QUICK_ROWS if ctx.quick else ROWS)[backend]
    runs = max(20, runs or 20)
    timings: dict[str, float] = {}
    with database(ctx, backend, rows, keep) as (url, empty):
        upgrade(url)
        if empty:
            if backend == "postgresql":
                timings["seed_seconds"] = asyncio.run(portal_audit.seed(url, rows))
            else:
                timings["seed_seconds"] = seed_sqlite(Path(url.split(":///", 1)[1]), rows)
            timings["rollup_seconds"] = rebuild_rollups(url)
        else:
            print(f"   portal-scale: reusing {url} ({rows:,} rows)", flush=True)
        results = serve_and_measure(ctx, url, runs)
    print(table_text(results), flush=True)
    worst = max(results, key=lambda r: r["p95_ms"] / r["bar_ms"])
    return Outcome(
        f"portal-scale-{backend}",
        f"Portal over {rows:,} {'PostgreSQL' if backend == 'postgresql' else 'SQLite'} rows: 7-day dashboard, "
        "free text without a window",
        Measure(f"p95 of {worst['name']}", worst["p95_ms"], "ms"),
        Measure("its bar", worst["bar_ms"], "ms"),
        "p95 / bar",
        "<=",
        1.0,
        details={"rows": rows, "runs": runs, **{k: round(v, 1) for k, v in timings.items()}, "requests": results},
        checks={"every request answered 200": all(r["statuses"] == [200] for r in results)},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.portal_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--rows", type=int, default=0, help="rows to seed (default 1,000,000 PG / 200,000 SQLite)")
    parser.add_argument("--runs", type=int, default=20, help="timed rounds per request (at least 20)")
    parser.add_argument("--quick", action="store_true", help="100,000 PG / 50,000 SQLite rows")
    parser.add_argument("--keep", action="store_true", help="seed once into a kept database and reuse it")
    args = parser.parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="apitest-bench-"))
    ctx = Context(results_dir=log_dir, log_dir=log_dir, quick=args.quick, server_cpus=None)
    failed = 0
    for backend in ("postgresql", "sqlite") if args.backend == "both" else (args.backend,):
        outcome = run(ctx, backend=backend, rows=args.rows, runs=args.runs, keep=args.keep)
        verdict = "pass" if outcome.passed else "FAIL"
        print(
            f"{outcome.scenario}: {outcome.subject.text()} (bar {outcome.baseline.text()}): {verdict}; "
            f"{outcome.details}"
        )
        failed += not outcome.passed
    print(f"server logs in {log_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
