"""What a scenario gets (``Context``) and returns (``Outcome``): a subject and a baseline measured in the
same run, their ratio, and the bar the ratio must clear."""

from __future__ import annotations

import math
import operator
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# `python -m` from the checkout, so the server runs this tree whatever the venv's editable install points at.
APITEST = [PYTHON, "-m", "apitest.cli"]

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


@dataclass
class Context:
    results_dir: Path
    log_dir: Path
    quick: bool = False  # shorter rounds, for trying the harness; the docs table is not rewritten
    zero_loss_seconds: float = 60.0  # the saturation scenario's load (``--saturation-seconds``)
    round_seconds: float = 5.0  # one throughput round (``--round-seconds``); quick mode uses 2
    round_count: int = 5  # alternating throughput rounds (``--rounds``); the median counts; quick mode runs 1
    prefer_wrk: bool = True
    server_cpus: str | None = "0"  # taskset list for servers under test; the runner itself takes the rest
    workers: int = 1  # worker processes of apitest and of httpbin's gunicorn in the peer scenario
    started: float = field(default_factory=time.time)

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def round_length(self) -> float:
        """Seconds of one alternating throughput round."""
        return 2.0 if self.quick else self.round_seconds

    def rounds(self) -> int:
        return 1 if self.quick else self.round_count

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


@dataclass
class Measure:
    label: str  # what was measured, e.g. "apitest /v1/whoami (API key, audit → Postgres)"
    value: float
    unit: str

    def text(self) -> str:
        return f"{fmt(self.value)} {self.unit}"


@dataclass
class Outcome:
    scenario: str
    title: str
    subject: Measure
    baseline: Measure
    ratio_name: str  # e.g. "throughput apitest / bare Starlette"
    op: str  # ">=", "<=", "==", or "info" (a ratio reported without a bar: passes when its checks do)
    bar: float
    details: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)  # further pass/fail facts (no 5xx, drops == 0, ...)
    error: str = ""  # set when the scenario could not run; the outcome then fails
    skipped: str = ""  # set when an optional peer is absent: shown, not a failure

    @property
    def ratio(self) -> float:
        if self.baseline.value == 0:
            return math.inf if self.subject.value else 1.0
        return self.subject.value / self.baseline.value

    @property
    def passed(self) -> bool:
        if self.error:
            return False
        if self.skipped:
            return True
        if self.op == "info":
            return all(self.checks.values())
        ratio = round(self.ratio, 3)
        return _OPS[self.op](ratio, self.bar) and all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "subject": vars(self.subject),
            "baseline": vars(self.baseline),
            "ratio_name": self.ratio_name,
            "ratio": round(self.ratio, 4) if math.isfinite(self.ratio) else None,
            "bar": f"{self.op} {self.bar}",
            "checks": self.checks,
            "passed": self.passed,
            "error": self.error,
            "skipped": self.skipped,
            "details": self.details,
        }


def failed(scenario: str, title: str, error: str) -> Outcome:
    none = Measure("not measured", 0.0, "")
    return Outcome(scenario, title, none, none, "", "==", 1.0, error=error)


def skipped(scenario: str, title: str, reason: str) -> Outcome:
    none = Measure("not measured", 0.0, "")
    return Outcome(scenario, title, none, none, "", "info", 0.0, skipped=reason)


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
