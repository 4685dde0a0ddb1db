"""Database keys as fast as file keys (issue #14): ``/v1/whoami`` with a database key (10,000 keys in the table)
against the same server with a file key, on SQLite and (when reachable) PostgreSQL.

For each backend, in one run and on loopback only: a fresh migrated database holding 10,000 real ``at_`` keys
(filled by :func:`bench.auth_keys._fill`, as the key store stores them); one ``apitest serve`` on 127.0.0.1 with
database keys on and one file key, audit off (only auth touches the database); ``GET /v1/whoami`` with the
database key, then with the file key, in turns on the same server, so both credentials see the same conditions.

The bar: database-key throughput at least 0.9 of file-key throughput (the original looked the key up on every
request: 0.12). ``python -m bench.auth_keys`` still measures, on its own, that 10,000 keys cost what 1 does.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from apitest.db.engine import upgrade
from bench import configs, pg, servers
from bench.auth_keys import _fill
from bench.common import alternate, latency, median_rps
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome
from bench.wrk import LoadSummary, Target, throughput

TITLE = "Database keys: /v1/whoami with a database key vs a file key"
CONNECTIONS = 32
KEYS = 10_000
BAR = 0.9


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


def run(ctx: Context) -> list[Outcome]:
    """The ``db_keys`` scenario of ``make bench``."""
    seconds = ctx.round_length()
    rounds = ctx.rounds()
    outcomes = [measure_backend(ctx, "sqlite", KEYS, seconds, rounds)]
    if pg.available():
        outcomes.append(measure_backend(ctx, "postgres", KEYS, seconds, rounds))
    else:
        print("   db_keys: PostgreSQL not reachable; measured SQLite only", flush=True)
    return outcomes
