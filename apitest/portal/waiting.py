"""Waiting for audit rows: ``flush``, ``wait_ms`` and ``min_rows`` on ``GET /api/v1/portal/audit/events``.

Rows reach the database up to ``audit.flush_interval_ms`` after their response, so a script that counts rows
right after its requests can count too few. ``flush=1`` asks this worker's writer to write everything it has
accepted before the query runs. ``wait_ms=N`` (at most 30,000) turns the call into a long poll: it returns as
soon as at least ``min_rows`` (default 1) rows match the filters, or after ``N`` ms with what there is; the
answer says which (``wait.met``). Rows of other workers arrive on their own flush interval, which the poll
covers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apitest.audit.buffer import AuditWriter
from apitest.audit.records import AuditFilters, AuditStore

MAX_WAIT_MS = 30_000
MAX_MIN_ROWS = 10_000
POLL_SECONDS = 0.05  # between counts while waiting
FLUSH_SECONDS = 5.0  # longest a plain flush=1 waits for the writer


@dataclass(frozen=True)
class Wait:
    wait_ms: int = 0
    min_rows: int = 1
    flush: bool = False


def _bounded(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]")
    return int(raw)


def parse_wait(query: Mapping[str, str]) -> Wait | None:
    """The waiting parameters of ``query``, or None when there are none; ``ValueError`` names a bad one."""
    if not any(name in query for name in ("wait_ms", "min_rows", "flush")):
        return None
    flush = query.get("flush", "")
    if flush not in ("", "0", "1", "true", "false"):
        raise ValueError("flush must be 1 or 0")
    return Wait(
        wait_ms=_bounded(query, "wait_ms", 0, MAX_WAIT_MS, 0),
        min_rows=_bounded(query, "min_rows", 1, MAX_MIN_ROWS, 1),
        flush=flush in ("1", "true"),
    )


async def wait_for_rows(
    writer: AuditWriter | None, store: AuditStore, filters: AuditFilters, wait: Wait
) -> dict[str, Any]:
    """Flush and poll until ``wait.min_rows`` rows match or ``wait.wait_ms`` passed: ``{waited_ms, min_rows, met}``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + wait.wait_ms / 1000
    if writer is not None:
        await writer.flush(within=max(deadline - started, FLUSH_SECONDS if wait.flush else 0.0))
    while True:
        met = await store.count(filters, cap=wait.min_rows) >= wait.min_rows
        remaining = deadline - loop.time()
        if met or remaining <= 0:
            break
        await asyncio.sleep(min(POLL_SECONDS, remaining))
        if writer is not None:
            await writer.flush(within=max(0.0, deadline - loop.time()))
    return {"waited_ms": round((loop.time() - started) * 1000), "min_rows": wait.min_rows, "met": met}
