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


def test_rows_it_does_not_report_fail_and_hints_follow_its_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def run(context: Context, seeded_rows: int = 0) -> list[Outcome]:
        seen["rows"] = seeded_rows
        ms = Measure("p95", 120.0, "ms")
        return [Outcome("portal-dashboard-sqlite", "t", ms, Measure("target", 300.0, "ms"), "p95 / 300", "<=", 1.0)]

    module = types.ModuleType("bench.fake_portal_scale")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.fake_portal_scale", module)
    monkeypatch.setattr(portal, "MODULE", "bench.fake_portal_scale")
    outcomes = portal.scale_outcomes(ctx(tmp_path), {"seeded_rows": 1000, "seeded_postgres_url": "postgresql://x"})
    assert seen == {"rows": 1000}  # seeded_postgres_url is not in its signature, so not passed
    by_name = {o.scenario: o for o in outcomes}
    assert by_name["portal-dashboard-sqlite"].passed
    assert (
        not by_name["portal-dashboard-postgres"].passed and "not reported" in by_name["portal-dashboard-postgres"].error
    )
    assert not by_name["portal-search-postgres"].passed


def test_an_exception_in_the_module_fails_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(context: Context) -> list[Outcome]:
        raise RuntimeError("seeding failed")

    module = types.ModuleType("bench.broken_portal_scale")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.broken_portal_scale", module)
    monkeypatch.setattr(portal, "MODULE", "bench.broken_portal_scale")
    outcomes = portal.scale_outcomes(ctx(tmp_path), {})
    assert all(not o.passed and "seeding failed" in o.error for o in outcomes)
