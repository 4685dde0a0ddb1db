"""The portal scenario's hook into ``bench.portal_scale``: a missing module or a missing row is a visible FAIL,
never a crash and never a pass; keywords reach the module only when its ``run`` declares them."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from bench.scenario import Context, Measure, Outcome
from bench.scenarios import portal


def ctx(tmp_path: Path) -> Context:
    return Context(results_dir=tmp_path, log_dir=tmp_path, quick=True)


def test_a_missing_module_fails_every_expected_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portal, "MODULE", "bench.no_such_portal_scale_module")
    outcomes = portal.scale_outcomes(ctx(tmp_path), {})
    assert [o.scenario for o in outcomes] == list(portal.EXPECTED)
    assert all(not o.passed and "missing" in o.error for o in outcomes)


def test_it_runs_once_per_backend_rows_it_does_not_report_fail_and_hints_follow_its_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def run(context: Context, *, backend: str = "postgresql", seeded_rows: int = 0) -> Outcome:
        calls.append({"backend": backend, "rows": seeded_rows})
        ms = Measure("p95", 120.0, "ms")
        name = "portal-scale-sqlite" if backend == "sqlite" else "something-else"
        return Outcome(name, "t", ms, Measure("its bar", 300.0, "ms"), "p95 / bar", "<=", 1.0)

    module = types.ModuleType("bench.fake_portal_scale")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.fake_portal_scale", module)
    monkeypatch.setattr(portal, "MODULE", "bench.fake_portal_scale")
    outcomes = portal.scale_outcomes(ctx(tmp_path), {"seeded_rows": 1000, "seeded_postgres_url": "postgresql://x"})
    # seeded_postgres_url is not in its signature, so not passed; one call per backend
    assert calls == [{"backend": "postgresql", "rows": 1000}, {"backend": "sqlite", "rows": 1000}]
    by_name = {o.scenario: o for o in outcomes}
    assert by_name["portal-scale-sqlite"].passed
    assert "something-else" in by_name  # shown, though not expected
    missing = by_name["portal-scale-postgresql"]
    assert not missing.passed and "not reported" in missing.error


def test_an_exception_in_the_module_fails_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(context: Context, *, backend: str) -> list[Outcome]:
        if backend == "sqlite":
            raise RuntimeError("seeding failed")
        ms = Measure("p95", 120.0, "ms")
        return [Outcome("portal-scale-postgresql", "t", ms, Measure("its bar", 300.0, "ms"), "p95 / bar", "<=", 1.0)]

    module = types.ModuleType("bench.broken_portal_scale")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.broken_portal_scale", module)
    monkeypatch.setattr(portal, "MODULE", "bench.broken_portal_scale")
    outcomes = {o.scenario: o for o in portal.scale_outcomes(ctx(tmp_path), {})}
    assert outcomes["portal-scale-postgresql"].passed
    assert not outcomes["portal-scale-sqlite"].passed and "seeding failed" in outcomes["portal-scale-sqlite"].error
    assert len(outcomes) == 2
