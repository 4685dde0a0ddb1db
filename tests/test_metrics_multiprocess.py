"""The multi-worker plumbing of apitest/metrics.py, in process (tests/ops/test_metrics_workers.py runs real workers)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from apitest import metrics
from tests.support import MetricSources, make_settings
from tests.test_metrics import FakeWriter, parse, value


def test_prepare_creates_a_directory_when_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    path, created = metrics.prepare_multiprocess_dir()
    try:
        assert created and os.path.isdir(path)
        assert os.environ[metrics.MULTIPROC_ENV] == path
    finally:
        os.rmdir(path)
        os.environ.pop(metrics.MULTIPROC_ENV, None)  # set by the code under test, not by monkeypatch


def test_prepare_empties_a_given_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "m"
    (target / "sub").mkdir(parents=True)
    (target / "counter_123.db").write_bytes(b"old")
    (target / "sub" / "x").write_text("old")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(target))
    assert metrics.prepare_multiprocess_dir() == (str(target), False)
    assert list(target.iterdir()) == []


def test_mark_worker_dead_drops_only_live_gauges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_livemostrecent_4242.db", "counter_4242.db", "gauge_max_4242.db"):
        (tmp_path / name).write_bytes(b"")
    metrics.mark_worker_dead(4242)
    metrics.mark_worker_dead(None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_max_4242.db"]


def test_mark_worker_dead_without_multiprocess_mode_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    metrics.mark_worker_dead(4242)


def test_multiprocess_render_reads_the_shared_directory(tmp_path: Path) -> None:
    # This process is not in multiprocess mode, so the directory is empty: nothing but valid output.
    assert metrics.Metrics(multiprocess_path=str(tmp_path)).render() == b""


async def test_background_sync_copies_stats_and_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    monkeypatch.setattr(metrics, "SYNC_INTERVAL", 0.01)
    overrides = {"database": {"url": f"sqlite+aiosqlite:///{tmp_path}/x.db"}, "audit": {"enabled": True}}
    services = MetricSources(settings=make_settings(overrides))
    writer = FakeWriter()
    services.audit = writer
    site = metrics.MetricsSite(services)
    assert site.metrics.multiprocess_path == str(tmp_path)
    await site.start()
    writer.stats.queued = 3
    writer.stats.written_total = 5
    await asyncio.sleep(0.1)
    local = parse(metrics.generate_latest(site.metrics.registry).decode())
    assert value(local, "apitest_audit_queued") == 3
    assert value(local, "apitest_audit_events_written_total") == 5
    writer.stats.written_total = 7  # written during the drain, after the last tick
    await site.stop()
    assert site._task is None
    final = parse(metrics.generate_latest(site.metrics.registry).decode())
    assert value(final, "apitest_audit_events_written_total") == 7


async def test_a_failing_sync_is_logged_and_the_loop_goes_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    monkeypatch.setattr(metrics, "SYNC_INTERVAL", 0.01)
    services = MetricSources(settings=make_settings())
    site = metrics.MetricsSite(services)
    calls = 0

    def broken(_: object) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    monkeypatch.setattr(site.metrics, "sync", broken)
    await site.start()
    await asyncio.sleep(0.1)
    assert site._task is not None and not site._task.done()
    site._task.cancel()
    site._task = None
    assert calls >= 2
