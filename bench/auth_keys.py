"""Database keys as fast as file keys: ``/v1/whoami`` with a database key (10,000 keys in the table) against
the same server with a file key, on SQLite and (when reachable) PostgreSQL.

    .venv/bin/python -m bench.auth_keys [--quick] [--keys 10000] [--seconds 5] [--rounds 3] [--no-postgres]

``make bench`` runs the same measurement as its ``db_keys`` scenario. For each backend (SQLite always,
PostgreSQL when reachable: ``APITEST_BENCH_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432``),
in one run and on loopback only:

1. a fresh migrated database holding ``--keys`` real ``at_`` keys (stored as the key store stores them);
2. one ``apitest serve`` on 127.0.0.1 with database keys on and one file key, audit off (only auth touches
   the database);
3. ``GET /v1/whoami`` with the database key, then with the file key, in turns (wrk, or the Python load
   generator), on the same server: the ratio compares the two credentials under the same conditions.

The bar (issue #14): database-key throughput at least 0.9 of file-key throughput (the original looked the key
up on every request: 0.12). Time is bounded: about ``2 * rounds * seconds`` of load per backend plus a few
seconds of setup.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from apitest.auth.keystore import KeyStore, generate_key, key_digest
from apitest.db.engine import Database, upgrade
from apitest.db.models import ApiKey, utcnow
from bench import configs, pg, servers
from bench.common import alternate, latency, median_rps
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome
from bench.wrk import LoadSummary, Target, throughput

TITLE = "Database keys: /v1/whoami with a database key vs a file key"
CONNECTIONS = 32
BAR = 0.9


async def _fill(url: str, total: int) -> str:
    """Store ``total`` keys in the migrated database at ``url``; return the plaintext of the last one."""
    database = Database(url)
    try:
        rows = []
        now = utcnow()
        for i in range(total - 1):
            plaintext = generate_key()
            rows.append(
                {
                    "id": f"00000000-0000-4000-8000-{i:012d}",
                    "name": f"filler-{i}",
                    "prefix": plaintext[:8],
                    "digest": key_digest(plaintext),
                    "scopes": [],
                    "created_at": now,
                }
            )
        async with database.sessions.begin() as session:
            for start in range(0, len(rows), 1000):
                await session.execute(insert(ApiKey), rows[start : start + 1000])
        _, probe = await KeyStore(database).create("probe", scopes=["read"])
        async with database.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        return probe
    finally:
        await database.dispose()


@contextlib.contextmanager
def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir}/keys.db"
        return
    with pg.scratch_database("keys") as url:
        yield url


def measure_backend(ctx: Context, backend: str, keys: int, seconds: float, rounds: int) -> Outcome:
    workdir = Path(tempfile.mkdtemp(prefix=f"apitest-bench-keys-{backend}-", dir=ctx.log_dir))
    file_key = configs.new_key()
    with _database(backend, workdir) as url:
        upgrade(url)
        db_key = asyncio.run(_fill(url, keys))
        port = free_port()
        config = configs.apitest_config(
            workdir / "keys.yaml",
            port=port,
            database_url=url,
            key=file_key,
            audit=False,
            extra={"api_keys": {"db": {"enabled": True}}, "database": {"migrate_on_boot": False}},
        )
        name = f"keys-{backend}"
        with servers.apitest(ctx, name, config, port) as app:
            targets: dict[str, Target] = {}
            for label, key, expected in (("db", db_key, "probe"), ("file", file_key, configs.BENCH_KEY_NAME)):
                headers = {"X-API-Key": key}
                first = httpx.get(app.url + "/v1/whoami", headers=headers, timeout=5)
                if first.status_code != 200 or first.json().get("key_name") != expected:
                    challenge = first.headers.get("www-authenticate", "")
                    raise RuntimeError(
                        f"{label}: /v1/whoami with {key[:8]}… answered {first.status_code} "
                        f"{first.text.strip()[:200]} {challenge}; see {ctx.log(name)}"
                    )
                targets[label] = Target(port, "/v1/whoami", headers=headers)

            def measure(label: str, secs: float = seconds) -> LoadSummary:
                return throughput(targets[label], connections=CONNECTIONS, seconds=secs, prefer_wrk=ctx.prefer_wrk)

            measure("db", 1)
            measure("file", 1)
            db_runs, file_runs = alternate(rounds, lambda: measure("db"), lambda: measure("file"))
    return Outcome(
        f"db_keys_{backend}",
        f"{TITLE} ({'SQLite' if backend == 'sqlite' else 'PostgreSQL'})",
        Measure(f"database key, {keys:,} keys in the table ({backend})", median_rps(db_runs), "req/s"),
        Measure("file key, same server", median_rps(file_runs), "req/s"),
        "throughput database key / file key",
        ">=",
        BAR,
        details={
            "keys": keys,
            "connections": CONNECTIONS,
            "round_seconds": seconds,
            "rounds": rounds,
            "round_ratios": [
                round(d.rps / f.rps, 3) if f.rps else None for d, f in zip(db_runs, file_runs, strict=True)
            ],
            "p50_ms": _latency(db_runs, file_runs, "p50_ms"),
            "p99_ms": _latency(db_runs, file_runs, "p99_ms"),
            "subject_runs": [r.as_dict() for r in db_runs],
            "baseline_runs": [r.as_dict() for r in file_runs],
        },
        checks={"no errors or non-2xx": all(r.errors == 0 and r.non_2xx == 0 for r in db_runs + file_runs)},
    )


def _latency(db: list[LoadSummary], file: list[LoadSummary], field: str) -> dict[str, float]:
    sides = latency(db, file, field)
    return {"database_key": sides["apitest"], "file_key": sides["baseline"]}


def run(ctx: Context, *, keys: int = 10_000, postgres: bool = True) -> list[Outcome]:
    """The ``db_keys`` scenario of ``make bench``."""
    seconds = ctx.round_length()
    rounds = ctx.rounds()
    outcomes = [measure_backend(ctx, "sqlite", keys, seconds, rounds)]
    if postgres and pg.available():
        outcomes.append(measure_backend(ctx, "postgres", keys, seconds, rounds))
    else:
        print("   db_keys: PostgreSQL not reachable; measured SQLite only", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.auth_keys", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one 2 s round")
    parser.add_argument("--keys", type=int, default=10_000, help="keys in the big table (default 10000)")
    parser.add_argument("--seconds", type=float, default=0, help="seconds per round (default 5, quick 2)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds of each key, in turns (default 3, quick 1)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator even when wrk exists")
    args = parser.parse_args(argv)
    server_cpus = None
    if len(os.sched_getaffinity(0)) >= 2:
        server_cpus = "0"  # servers on CPU 0, this process and the load generator on the others
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})
    ctx = Context(
        results_dir=Path(tempfile.gettempdir()),
        log_dir=Path(tempfile.mkdtemp(prefix="apitest-bench-")),
        quick=args.quick,
        prefer_wrk=not args.no_wrk,
        server_cpus=server_cpus,
    )
    seconds = args.seconds or ctx.round_length()
    rounds = args.rounds or ctx.rounds()
    outcomes = [measure_backend(ctx, "sqlite", args.keys, seconds, rounds)]
    if not args.no_postgres and pg.available():
        outcomes.append(measure_backend(ctx, "postgres", args.keys, seconds, rounds))
    elif not args.no_postgres:
        print("PostgreSQL not reachable; SQLite only", file=sys.stderr)
    for o in outcomes:
        d = o.details
        p50 = d["p50_ms"]
        print(
            f"{o.scenario}: database key {o.subject.text()} ({d['keys']:,} keys) vs file key {o.baseline.text()}: "
            f"ratio {o.ratio:.3f} (bar >= {BAR}, {'pass' if o.passed else 'FAIL'}); "
            f"per round {d['round_ratios']}; p50 {p50['database_key']:.2f} vs {p50['file_key']:.2f} ms"
        )
    results = ctx.log_dir / "auth_keys.json"
    results.write_text(json.dumps([o.as_dict() for o in outcomes], indent=2))
    print(f"details: {results}; server logs: {ctx.log_dir}")
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
