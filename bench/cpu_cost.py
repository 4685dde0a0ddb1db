"""CPU per request of ``GET /v1/whoami`` (file key) under wrk, for three audit settings: off, on without
payloads, on with payloads and headers (the ``overhead`` row of ``make bench``).

Throughput alone cannot say where a request's time goes when the database shares the machine, so this reads
the CPU time of the server process and of every ``postgres`` process from ``/proc`` before and after each load
and divides by the responses: the server's own cost (user and system) and the database's, per request. The
server runs pinned to CPU 0 as in ``make bench``; run this on the other core so wrk inherits it:

    taskset -c 1 .venv/bin/python -m bench.cpu_cost [--seconds 10]

Linux only (``/proc``). Soft-interrupt time (the loopback network's receive path) is not charged to any
process on kernels that account it separately, so the server's figure can be below its wall time per request.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import configs, pg
from bench.procs import children_of, free_port
from bench.scenario import Context
from bench.servers import apitest
from bench.wrk import Target, run_wrk

PROC = Path("/proc")
VARIANTS = {  # label -> (audit on, payload capture on)
    "audit off": (False, False),
    "audit, no payloads": (True, False),
    "audit, payloads and headers": (True, True),
}


def stat_seconds(stat: str) -> tuple[float, float]:
    """User and system CPU seconds from the text of ``/proc/<pid>/stat`` (the command name may hold spaces
    and parentheses: the fields are counted after its last ``)``)."""
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def process_seconds(pids: list[int], proc: Path = PROC) -> tuple[float, float]:
    """User and system CPU seconds of ``pids``, summed (a process gone meanwhile counts nothing)."""
    user = system = 0.0
    for pid in pids:
        try:
            u, s = stat_seconds((proc / str(pid) / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue
        user += u
        system += s
    return user, system


def named_pids(name: str, proc: Path = PROC) -> list[int]:
    """The processes whose command name is ``name``."""
    found: list[int] = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class Cost:
    label: str
    rps: float
    requests: int
    server_user_us: float
    server_system_us: float
    postgres_us: float

    def row(self) -> str:
        server = self.server_user_us + self.server_system_us
        return (
            f"| {self.label} | {self.rps:,.0f} | {server:.0f} µs ({self.server_user_us:.0f} user) "
            f"| {self.postgres_us:.0f} µs |"
        )


def measure(label: str, audit: bool, payloads: bool, seconds: float, work: Path, database_url: str) -> Cost:
    ctx = Context(results_dir=work, log_dir=work / "logs")
    key = configs.new_key()
    port = free_port()
    config = configs.apitest_config(
        work / f"{label.replace(' ', '_').replace(',', '')}.yaml",
        port=port,
        database_url=database_url,
        key=key,
        audit=audit,
        capture_payloads=payloads,
        extra={"audit": {"capture_headers": payloads}},
    )
    with apitest(ctx, label, config, port) as server:
        pids = [server.pid, *children_of(server.pid)]
        target = Target(port, "/v1/whoami", headers={"X-API-Key": key})
        run_wrk(target, connections=32, seconds=3)  # warm-up
        time.sleep(2)  # the writer catches up with the warm-up
        user0, system0 = process_seconds(pids)
        pg0 = sum(process_seconds(named_pids("postgres")))
        summary = run_wrk(target, connections=32, seconds=seconds)
        time.sleep(3)  # the writer stores what the load left in the buffer: its CPU counts too
        user1, system1 = process_seconds(pids)
        pg1 = sum(process_seconds(named_pids("postgres")))
    n = max(1, summary.requests)
    return Cost(label, summary.rps, n, 1e6 * (user1 - user0) / n, 1e6 * (system1 - system0) / n, 1e6 * (pg1 - pg0) / n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cpu_cost", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured load (default 10)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="apitest-cpu-cost-"))
    print("| `GET /v1/whoami`, file key | req/s | server CPU per request | PostgreSQL CPU per request |")
    print("|---|---:|---:|---:|")
    for label, (audit, payloads) in VARIANTS.items():
        with pg.scratch_database("cpu_cost") as url:
            print(measure(label, audit, payloads, args.seconds, work, url).row(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
