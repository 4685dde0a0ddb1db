"""Helpers shared by the scenarios: alternating rounds, Prometheus text, audit row counts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from bench.scenario import median
from bench.wrk import LoadSummary

T = TypeVar("T")


def alternate(
    rounds: int, subject: Callable[[], LoadSummary], baseline: Callable[[], LoadSummary]
) -> tuple[list[LoadSummary], list[LoadSummary]]:
    """Measure subject and baseline in turns, so drift on a shared machine hits both alike; the order flips
    every round (:func:`in_turn`)."""
    subjects: list[LoadSummary] = []
    baselines: list[LoadSummary] = []
    for index in range(rounds):
        for measure, runs in in_turn(index, [(subject, subjects), (baseline, baselines)]):
            runs.append(measure())
    return subjects, baselines


def in_turn(index: int, names: list[T]) -> list[T]:
    """The order of round ``index``: as given in even rounds, reversed in odd ones (A B, B A, A B...), so a
    machine that slows down or speeds up during a run does not always favour the target measured second."""
    return list(names) if index % 2 == 0 else list(reversed(names))


def median_rps(runs: list[LoadSummary]) -> float:
    return median([r.rps for r in runs])


def latency(subjects: list[LoadSummary], baselines: list[LoadSummary], field: str) -> dict[str, float]:
    """Median of a latency field over the rounds, for both sides."""
    return {
        "apitest": median([getattr(r, field) for r in subjects]),
        "baseline": median([getattr(r, field) for r in baselines]),
    }


def metric_samples(url: str, headers: dict[str, str] | None = None) -> dict[str, float]:
    """``/metrics`` as {sample name with labels: value}; empty when the endpoint is not served."""
    try:
        resp = httpx.get(url + "/metrics", headers=headers, timeout=5)
    except httpx.HTTPError:
        return {}
    if resp.status_code != 200:
        return {}
    out: dict[str, float] = {}
    for line in resp.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def metric(samples: dict[str, float], *names: str) -> float | None:
    """The first of ``names`` present (sum over its label sets)."""
    for name in names:
        found = [v for k, v in samples.items() if k == name or k.startswith(name + "{")]
        if found:
            return sum(found)
    return None


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def writer_stats(log_path: Path) -> dict[str, object]:
    """The counters the audit writer logs when it stops (after draining), from a server's log."""
    found: dict[str, object] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if '"audit writer stopped"' in line:
            try:
                found = json.loads(line)
            except ValueError:
                continue
    return found
