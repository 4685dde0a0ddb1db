"""How an outcome of ``make bench`` passes: a bar, an informational ratio, a skipped optional peer, an error."""

from __future__ import annotations

from pathlib import Path

from bench.scenario import Context, Measure, Outcome, failed, skipped


def outcome(subject: float, baseline: float, op: str, bar: float, **checks: bool) -> Outcome:
    return Outcome(
        "s", "t", Measure("a", subject, "req/s"), Measure("b", baseline, "req/s"), "a / b", op, bar, checks=checks
    )


def test_a_bar_is_cleared_or_missed_on_the_rounded_ratio() -> None:
    assert outcome(80, 100, ">=", 0.80).passed
    assert not outcome(79, 100, ">=", 0.80).passed
    assert outcome(100, 100, "==", 1.0).passed
    assert not outcome(100, 100, ">=", 0.5, drops=False).passed


def test_an_informational_ratio_passes_on_its_checks_alone() -> None:
    assert outcome(1, 100, "info", 0.0).passed
    assert not outcome(1, 100, "info", 0.0, clean=False).passed


def test_a_skipped_peer_is_shown_and_not_failed_and_an_error_fails() -> None:
    gone = skipped("peer-go-get", "go-httpbin", "not found")
    assert gone.passed and gone.as_dict()["skipped"] == "not found"
    assert not failed("portal-dashboard-sqlite", "dashboard", "missing").passed


def test_rounds_are_five_by_default_one_in_quick_mode_and_as_asked(tmp_path: Path) -> None:
    assert Context(results_dir=tmp_path, log_dir=tmp_path).rounds() == 5
    assert Context(results_dir=tmp_path, log_dir=tmp_path, quick=True).rounds() == 1
    assert Context(results_dir=tmp_path, log_dir=tmp_path, round_count=7).rounds() == 7
