"""bench.procs: where the servers under test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import procs


def test_servers_are_pinned_even_when_the_runner_narrowed_its_own_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # bench.run moves itself off CPU 0 before it starts any server: its own affinity then has one core on a
    # two-core machine, and the servers must still be pinned to the core it left them.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1})
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(Path, "exists", lambda self: True)
    assert procs.pinned(["server"], "0") == ["/usr/bin/taskset", "-c", "0", "server"]


def test_nothing_is_pinned_on_one_core_or_when_asked_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "exists", lambda self: True)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert procs.pinned(["server"], "0") == ["server"]
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert procs.pinned(["server"], None) == ["server"]
