"""bench.cpu_cost: CPU seconds read from /proc."""

from __future__ import annotations

import os
from pathlib import Path

from bench.cpu_cost import Cost, named_pids, process_seconds, stat_seconds

TICKS = os.sysconf("SC_CLK_TCK")


def stat_line(pid: int, comm: str, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    return f"{pid} ({comm}) S 1 1 1 0 -1 4194560 10 0 0 0 {utime} {stime} 0 0 20 0 1 0 100 0 0\n"


def test_the_fields_are_counted_after_the_last_parenthesis_of_the_name() -> None:
    assert stat_seconds(stat_line(7, "py (worker) x", 3 * TICKS, TICKS)) == (3.0, 1.0)


def fake_proc(root: Path, processes: dict[int, tuple[str, int, int]]) -> Path:
    for pid, (comm, utime, stime) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "comm").write_text(comm + "\n")
        (root / str(pid) / "stat").write_text(stat_line(pid, comm, utime, stime))
    (root / "self").mkdir()  # not a process number: skipped
    return root


def test_postgres_processes_are_found_by_name_and_summed(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: ("postgres", TICKS, 0), 11: ("python", 5 * TICKS, 0), 12: ("postgres", 0, TICKS)})
    pids = named_pids("postgres", proc)
    assert sorted(pids) == [10, 12]
    assert process_seconds(pids, proc) == (1.0, 1.0)
    assert process_seconds([10, 99], proc) == (1.0, 0.0)  # a process gone meanwhile counts nothing


def test_a_row_adds_user_and_system_time() -> None:
    row = Cost("audit off", 8686.4, 86892, 89.1, 25.6, 0.1).row()
    assert row == "| audit off | 8,686 | 115 µs (89 user) | 0 µs |"
