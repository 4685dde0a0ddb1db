"""bench.common: the order of alternating rounds."""

from __future__ import annotations

from bench.common import alternate, in_turn
from bench.wrk import LoadSummary


def test_the_order_flips_every_round() -> None:
    assert [in_turn(i, ["a", "b", "c"]) for i in range(3)] == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]


def test_alternate_measures_both_sides_each_round_in_flipped_order() -> None:
    calls: list[str] = []

    def run(side: str) -> LoadSummary:
        calls.append(side)
        return LoadSummary(
            tool="t", requests=len(calls), non_2xx=0, errors=0, rps=float(len(calls)), p50_ms=0, p99_ms=0, seconds=1
        )

    subjects, baselines = alternate(3, lambda: run("s"), lambda: run("b"))
    assert calls == ["s", "b", "b", "s", "s", "b"]
    assert [r.rps for r in subjects] == [1.0, 4.0, 5.0]  # each side's runs stay in round order
    assert [r.rps for r in baselines] == [2.0, 3.0, 6.0]
