"""The results table (terminal and Markdown), the JSON dump, and the table section of docs/performance.md."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scenario import ROOT, Outcome, fmt

DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- bench:table:begin -->"
END = "<!-- bench:table:end -->"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    pg_version = ""
    try:
        pg_version = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=5).stdout.strip()  # noqa: S607
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "postgres": pg_version,
    }


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def ratio_text(outcome: Outcome) -> str:
    if outcome.error or outcome.skipped:
        return "-"
    return f"{outcome.ratio:.2f}"


def rows(outcomes: list[Outcome]) -> list[list[str]]:
    out = []
    for o in outcomes:
        if o.skipped:
            out.append([o.scenario, "-", "-", "-", "-", "-", f"skipped: {o.skipped}"])
            continue
        result = ("info" if o.op == "info" else "pass") if o.passed else ("FAIL, not measured" if o.error else "FAIL")
        failed_checks = [name for name, ok in o.checks.items() if not ok]
        if failed_checks:
            result += " (failed: " + "; ".join(failed_checks) + ")"
        if o.error:
            result += f": {o.error}"
        out.append(
            [
                o.scenario,
                o.subject.text() if not o.error else "-",
                o.baseline.text() if not o.error else "-",
                o.ratio_name or "-",
                ratio_text(o),
                f"{o.op} {fmt(o.bar)}" if not o.error and o.op != "info" else "-",
                result,
            ]
        )
    return out


HEADER = ["scenario", "apitest", "baseline", "ratio of", "ratio", "bar", "result"]


def terminal_table(outcomes: list[Outcome]) -> str:
    table = [HEADER, *rows(outcomes)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(outcomes: list[Outcome]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows(outcomes)]
    return "\n".join(lines)


def write_json(results_dir: Path, payload: dict[str, Any]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"bench-{stamp}.json"
    text = json.dumps(payload, indent=2, default=str)
    path.write_text(text)
    (results_dir / "latest.json").write_text(text)
    return path


def highlights(outcomes: list[Outcome]) -> list[str]:
    """One line per scenario with the latencies and counts behind its ratio (from its details)."""
    lines = []
    for o in outcomes:
        d = o.details
        parts = []
        p50, p99 = d.get("p50_ms"), d.get("p99_ms")
        if isinstance(p50, dict) and isinstance(p99, dict) and len(p50) == 2:
            (a, a50), (b, b50) = p50.items()
            sides = "apitest vs baseline column" if (a, b) == ("apitest", "baseline") else f"{a} vs {b}"
            parts.append(f"p50 {a50:.1f} vs {b50:.1f} ms, p99 {p99[a]:.1f} vs {p99[b]:.1f} ms ({sides})")
        if isinstance(d.get("audit_dropped"), int) and d["audit_dropped"] > 0:
            parts.append(f"{d['audit_dropped']:,} audit events dropped and counted at saturation")
        load = d.get("load")
        if isinstance(load, dict) and "rps" in load:
            writer = d.get("writer") if isinstance(d.get("writer"), dict) else {}
            dropped = writer.get("dropped_total") if writer else None
            if isinstance(dropped, int) and dropped > 0:
                parts.append(
                    f"{load['rps']:,.0f} req/s for {load.get('seconds', 0):.0f} s; {dropped:,} audit events dropped"
                )
            else:
                caught_up = d.get("catch_up_after_load_s")
                parts.append(f"{load['rps']:,.0f} req/s sustained, the writer caught up {caught_up} s after the load")
        if isinstance(d.get("idle_rss_mib"), dict) and o.scenario.endswith("-rss"):
            idle = d["idle_rss_mib"]
            parts.append(f"idle RSS {idle['apitest']} vs {idle['baseline']} MiB")
        if parts:
            lines.append(f"- `{o.scenario}`: " + "; ".join(parts) + ".")
    return lines


# (scenario, side, server, what was requested) for the side-by-side table, in the order of the table.
SIDE_BY_SIDE: list[tuple[str, str, str, str]] = [
    ("overhead", "baseline", "bare Starlette", "`GET /v1/whoami` (apitest's bytes, same uvicorn settings)"),
    ("healthz", "baseline", "bare Starlette", "`GET /healthz`"),
    ("peer-go-get", "subject", "bare Starlette", "go-httpbin's `/get` bytes"),
    ("peer-go-get", "baseline", "go-httpbin (`GOMAXPROCS=1`)", "`GET /get`"),
    ("healthz", "subject", "apitest", "`GET /healthz`, full middleware stack (no auth, no audit)"),
    ("overhead", "subject", "apitest", "`GET /v1/whoami`, file key, PostgreSQL audit with payloads"),
    ("db_keys_sqlite", "subject", "apitest", "`GET /v1/whoami`, database key, SQLite (audit off)"),
    ("db_keys_sqlite", "baseline", "apitest", "`GET /v1/whoami`, file key, same server (audit off)"),
    ("db_keys_postgres", "subject", "apitest", "`GET /v1/whoami`, database key, PostgreSQL (audit off)"),
    ("db_keys_postgres", "baseline", "apitest", "`GET /v1/whoami`, file key, same server (audit off)"),
    ("peer-echo", "subject", "apitest", "`POST /v1/echo` 1 KB JSON, anonymous, audited with payloads"),
    ("peer-go-echo", "baseline", "go-httpbin (`GOMAXPROCS=1`)", "`POST /anything` 1 KB JSON"),
    ("peer-echo", "baseline", "httpbin (gunicorn `-k gevent`)", "`POST /anything` 1 KB JSON"),
    ("workers", "baseline", "apitest `--workers 1`", "`GET /v1/whoami`, file key, audited (servers unpinned)"),
    ("workers", "subject", "apitest `--workers 2`", "`GET /v1/whoami`, file key, audited (servers unpinned)"),
]


def side_by_side(outcomes: list[Outcome]) -> str:
    """Requests per second of every server and route of the run, apitest beside its peers."""
    by_name = {o.scenario: o for o in outcomes if not o.error and not o.skipped}
    lines = ["| server | request | req/s |", "|---|---|---:|"]
    for scenario, side, server, what in SIDE_BY_SIDE:
        outcome = by_name.get(scenario)
        if outcome is None:
            continue
        measure = outcome.subject if side == "subject" else outcome.baseline
        lines.append(f"| {server} | {what} | {fmt(measure.value)} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def doc_section(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    peers = side_by_side(outcomes)
    lines = [
        BEGIN,
        f"Latest full run: {meta['finished']} (UTC), {meta['duration_s']:.0f} s end to end, "
        f"load generator {meta['load_generator']}, commit `{meta['commit']}`.",
        "",
        f"Machine: {m['cpu']}, **{m['cores']} cores**, {m['memory_gib']} GiB, {m['os']}, kernel {m['kernel']}, "
        f"Python {m['python']}, {m['postgres']}. Servers pinned to CPU 0 (`taskset -c 0`), wrk `-t1 -c32` on the "
        "other cores, except the `workers` row (servers unpinned).",
        "",
        *([peers, ""] if peers else []),
        markdown_table(outcomes),
        "",
        *highlights(outcomes),
        "",
        "Per-scenario details (latencies, error counts, every round) are in `bench/results/latest.json`.",
        END,
    ]
    return "\n".join(lines)


def update_doc(outcomes: list[Outcome], meta: dict[str, Any], doc: Path = DOC) -> bool:
    """Replace the table section of docs/performance.md; False when the markers are missing."""
    if not doc.exists():
        return False
    text = doc.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        return False
    doc.write_text(pattern.sub(lambda _: doc_section(outcomes, meta), text, count=1))
    return True


def _outcome(data: dict[str, Any]) -> Outcome:
    from bench.scenario import Measure

    op, _, bar = str(data["bar"]).partition(" ")
    return Outcome(
        data["scenario"],
        data["title"],
        Measure(**data["subject"]),
        Measure(**data["baseline"]),
        data["ratio_name"],
        op,
        float(bar or 0),
        details=data.get("details", {}),
        checks=data.get("checks", {}),
        error=data.get("error", ""),
        skipped=data.get("skipped", ""),
    )


def main(argv: list[str] | None = None) -> int:
    """Rewrite the table section of docs/performance.md from a saved full run (``bench/results/*.json``)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="bench.report", description=main.__doc__)
    parser.add_argument("results", nargs="?", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args(argv)
    data = json.loads(Path(args.results).read_text())
    outcomes = [_outcome(item) for item in data["scenarios"]]
    if not update_doc(outcomes, data):
        print(f"{DOC} has no table markers", file=sys.stderr)
        return 1
    print(f"table of the run finished {data['finished']} written to {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
