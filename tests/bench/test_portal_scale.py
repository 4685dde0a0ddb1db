"""``bench.portal_scale --keep``: a kept SQLite database is seeded once, then reused; a wrong size is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench import portal_scale
from bench.scenario import Context


def test_a_kept_database_is_seeded_once_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portal_scale, "kept_sqlite", lambda rows: tmp_path / f"kept-{rows}.db")
    ctx = Context(results_dir=tmp_path, log_dir=tmp_path, quick=True)
    with portal_scale.database(ctx, "sqlite", 3, keep=True) as (url, empty):
        assert empty and url == f"sqlite+aiosqlite:///{tmp_path / 'kept-3.db'}"
        assert portal_scale.seeded_rows(url) == 0  # missing file
    with sqlite3.connect(tmp_path / "kept-3.db") as conn:
        conn.execute("CREATE TABLE audit_events (id TEXT)")
        conn.executemany("INSERT INTO audit_events VALUES (?)", [("a",), ("b",), ("c",)])
    with portal_scale.database(ctx, "sqlite", 3, keep=True) as (url, empty):
        assert not empty and portal_scale.seeded_rows(url) == 3
    with pytest.raises(RuntimeError, match="holds 3 events, not 4"):
        monkeypatch.setattr(portal_scale, "kept_sqlite", lambda rows: tmp_path / "kept-3.db")
        with portal_scale.database(ctx, "sqlite", 4, keep=True):
            pass


def test_without_keep_each_run_gets_a_fresh_file(tmp_path: Path) -> None:
    ctx = Context(results_dir=tmp_path, log_dir=tmp_path, quick=True)
    with portal_scale.database(ctx, "sqlite", 3, keep=False) as (first, empty):
        assert empty
    with portal_scale.database(ctx, "sqlite", 3, keep=False) as (second, _):
        assert second != first and second.endswith("/audit.db")
