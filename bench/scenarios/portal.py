"""Portal at scale.

1. The audit list over 1,000,000 PostgreSQL rows (``bench/portal_audit.py``, which also runs on its own): first
   and filtered pages, p95 ≤ 200 ms.
2. The #14 bars, measured by ``bench/portal_scale.py`` (the portal-at-scale work owns its seeding and timing),
   one row per backend, each gating the 7-day dashboard (≤ 300 ms) and free text with no time window
   (p95 ≤ 500 ms): ``portal-scale-postgresql`` over 1,000,000 rows, ``portal-scale-sqlite`` over 200,000.

The interface: ``bench.portal_scale.run(ctx: Context, *, backend: str, **hints) -> Outcome | list[Outcome]``,
called once per backend (``"postgresql"``, ``"sqlite"``) when its signature has ``backend`` (else once), with
``ctx.quick`` meaning smaller tables. ``hints`` holds only the keywords its signature declares, from:
``seeded_postgres_url`` (a PostgreSQL database this scenario already migrated and filled with ``seeded_rows``
events and payloads over 7 days by :func:`bench.portal_audit.seed`, offered so it need not seed 1,000,000 rows
again; dropped after) and ``seeded_rows``.

When the module is missing, fails, or reports none of a row, that row FAILs with the reason: the harness never
crashes on it and never passes without it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import traceback
from typing import Any

from apitest.db.engine import upgrade
from bench import pg, portal_audit
from bench.scenario import Context, Outcome, failed

MODULE = "bench.portal_scale"
BACKENDS = ("postgresql", "sqlite")
EXPECTED = {
    "portal-scale-postgresql": "Portal over 1,000,000 PostgreSQL rows: 7-day dashboard ≤ 300 ms, free text ≤ 500 ms",
    "portal-scale-sqlite": "Portal over 200,000 SQLite rows: 7-day dashboard ≤ 300 ms, free text ≤ 500 ms",
}
ROWS = 1_000_000
QUICK_ROWS = 100_000


def scale_outcomes(ctx: Context, hints: dict[str, Any]) -> list[Outcome]:
    """What ``bench.portal_scale`` reports, with a FAIL for each expected row it does not (or cannot) give."""
    try:
        module = importlib.import_module(MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MODULE:
            raise
        reason = f"{MODULE} is missing (issue #14 item 5: its seeding and timing scenarios)"
        return [failed(name, title, reason) for name, title in EXPECTED.items()]
    runner = getattr(module, "run", None)
    if not callable(runner):
        return [failed(name, title, f"{MODULE} has no run(ctx)") for name, title in EXPECTED.items()]
    accepted = inspect.signature(runner).parameters
    calls: list[dict[str, Any]] = [{"backend": b} for b in BACKENDS] if "backend" in accepted else [{}]
    outcomes: list[Outcome] = []
    for extra in calls:
        kwargs = {**{k: v for k, v in hints.items() if k in accepted}, **extra}
        label = extra.get("backend", "")
        try:
            result = runner(ctx, **kwargs)
        except Exception as exc:
            traceback.print_exc()
            names = [n for n in EXPECTED if not label or n.endswith(label)]
            outcomes += [failed(n, EXPECTED[n], f"{MODULE}: {type(exc).__name__}: {exc}") for n in names]
            continue
        outcomes += list(result) if isinstance(result, list) else [result]
    reported = {o.scenario for o in outcomes}
    outcomes += [
        failed(name, title, f"not reported by {MODULE}") for name, title in EXPECTED.items() if name not in reported
    ]
    return outcomes


def run(ctx: Context) -> list[Outcome]:
    rows = QUICK_ROWS if ctx.quick else ROWS
    if not pg.available():
        raise RuntimeError(f"PostgreSQL is not reachable at {pg.server_url()} (set APITEST_BENCH_DATABASE_URL)")
    with pg.scratch_database("portal") as url:
        upgrade(url)
        seed_seconds = asyncio.run(portal_audit.seed(url, rows))
        audit_list = portal_audit.run(ctx, rows=rows, database_url=url)
        audit_list.details["seed_seconds"] = round(seed_seconds, 1)
        scale = scale_outcomes(ctx, {"seeded_postgres_url": url, "seeded_rows": rows})
    return [audit_list, *scale]
