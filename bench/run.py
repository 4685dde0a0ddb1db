"""``make bench``: run every scenario on loopback, print the table, write bench/results/*.json and the table
section of docs/performance.md.

    python -m bench.run [--quick] [--only overhead,peer] [--saturation-seconds 60] [--round-seconds 5]
                        [--no-wrk] [--no-docs] [--workers N]

Exit status 1 when a scenario misses its bar or could not run (an optional peer that is absent is shown as
skipped, not failed).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.procs import cpu_count
from bench.scenario import ROOT, Context, Outcome, failed
from bench.wrk import tool_name

# (module under bench.scenarios, its title when it cannot even start) in run order.
SCENARIOS: list[tuple[str, str]] = [
    ("overhead", "Overhead: /healthz and /v1/whoami vs bare Starlette"),
    ("peer", "Peers: go-httpbin and httpbin"),
    ("ingestion", "Audit ingestion"),
    ("zero_loss", "Zero loss at saturation"),
    ("db_keys", "Database keys vs file keys"),
    ("workers", "Workers: 2 vs 1"),
    ("concurrency", "Concurrency"),
    ("portal", "Portal over 1,000,000 rows"),
]


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)  # noqa: S607
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run_one(name: str, title: str, ctx: Context) -> list[Outcome]:
    started = time.monotonic()
    print(f"== {name}", flush=True)
    try:
        module = importlib.import_module(f"bench.scenarios.{name}")
        result = module.run(ctx)
        outcomes = result if isinstance(result, list) else [result]
    except Exception as exc:
        traceback.print_exc()
        outcomes = [failed(name, title, f"{type(exc).__name__}: {exc}")]
    for o in outcomes:
        o.details["scenario_seconds"] = round(time.monotonic() - started, 1)
        if o.skipped or o.error:
            print(f"   {o.scenario}: {'skipped' if o.skipped else 'FAIL, not measured'} ({o.skipped or o.error})")
            continue
        status = ("info" if o.op == "info" else "pass") if o.passed else "FAIL"
        print(f"   {o.scenario}: {o.subject.text()} vs {o.baseline.text()}, ratio {o.ratio:.3f} ({status})", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short rounds to try the harness; docs untouched")
    parser.add_argument("--only", default="", help="comma-separated scenarios: " + ",".join(n for n, _ in SCENARIOS))
    parser.add_argument(
        "--saturation-seconds",
        "--zero-loss-seconds",
        dest="zero_loss_seconds",
        type=float,
        default=60.0,
        help="length of the zero-loss load at saturation (default 60; a docs run needs 60)",
    )
    parser.add_argument(
        "--round-seconds", type=float, default=5.0, help="one alternating throughput round (default 5; quick 2)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating throughput rounds per target, the median counts (default 5; a docs run needs 5)",
    )
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator even when wrk exists")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the table in docs/performance.md")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for apitest and httpbin (default 1)")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"), help="where the JSON goes")
    args = parser.parse_args(argv)

    # A SIGTERM (a CI timeout, `timeout`) unwinds like Ctrl-C, so every scenario stops its servers and drops
    # its scratch database on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    wanted = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(wanted) - {n for n, _ in SCENARIOS})
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    selected = [(n, t) for n, t in SCENARIOS if not wanted or n in wanted]

    server_cpus: str | None = None
    if cpu_count() >= 2:
        # Servers under test on CPU 0, this process (and wrk, its child) on the others.
        server_cpus = "0"
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})

    results_dir = Path(args.results)
    log_dir = Path(tempfile.mkdtemp(prefix="apitest-bench-"))
    ctx = Context(
        results_dir=results_dir,
        log_dir=log_dir,
        quick=args.quick,
        zero_loss_seconds=args.zero_loss_seconds,
        round_seconds=args.round_seconds,
        round_count=max(1, args.rounds),
        prefer_wrk=not args.no_wrk,
        server_cpus=server_cpus,
        workers=args.workers,
    )
    tool = tool_name(ctx.prefer_wrk)
    print(f"bench: load generator {tool}; servers on CPU {server_cpus or 'any'}; logs in {log_dir}", flush=True)
    started = time.time()
    outcomes: list[Outcome] = []
    for name, title in selected:
        outcomes += run_one(name, title, ctx)
    finished = time.time()

    meta = {
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "finished": datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%d %H:%M"),
        "duration_s": finished - started,
        "load_generator": tool,
        "commit": commit(),
        "quick": args.quick,
        "zero_loss_seconds": args.zero_loss_seconds,
        "round_seconds": args.round_seconds,
        "rounds": args.rounds,
        "workers": args.workers,
        "machine": report.machine(),
        "logs": str(log_dir),
    }
    print()
    print(report.terminal_table(outcomes))
    path = report.write_json(results_dir, {**meta, "scenarios": [o.as_dict() for o in outcomes]})
    print(f"\nbench: {len(outcomes)} results in {finished - started:.0f} s; JSON {path}")
    long_enough = args.zero_loss_seconds >= 60 and args.round_seconds >= 5 and args.rounds >= 5
    full = not args.quick and not wanted and long_enough
    if full and not args.no_docs:
        if report.update_doc(outcomes, meta):
            print(f"bench: table written to {report.DOC.relative_to(ROOT)}")
        else:
            print(f"bench: {report.DOC} has no table markers; not updated", file=sys.stderr)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
