"""The two middleware-stack ratios of issue #14, measured side by side in one run:

- ``/healthz`` through the full production middleware stack vs the bare Starlette baseline's ``/healthz``;
- ``/v1/whoami`` with a file key and PostgreSQL audit (payloads and headers) vs the baseline's ``/v1/whoami``.

Both servers run one worker pinned to CPU 0 (``taskset -c 0``); run this script on the other core so wrk
inherits it, e.g. ``taskset -c 1 .venv/bin/python -m bench.stack_ratio --rounds 3 --seconds 5``. Rounds
alternate apitest and baseline; the medians and every round's ratio are printed, with the audit counters
(rows stored vs responses, dropped) read at the end.

    python -m bench.stack_ratio [--rounds 3] [--seconds 5] [--connections 32] [--sustained 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench import configs, pg
from bench.procs import free_port
from bench.scenario import Context
from bench.servers import apitest, baseline
from bench.wrk import Target, run_wrk


def counter(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def rows(url: str) -> int:
    conn = await asyncpg.connect(pg.asyncpg_url(url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit_events"))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--sustained",
        type=float,
        default=0,
        help="then load whoami for this many seconds more, after the same again as a warm-up that fills the "
        "audit buffer: the rate the database write sustains, not a burst the buffer absorbs",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="apitest-stack-ratio-"))
    ctx = Context(results_dir=work, log_dir=work / "logs")
    key = configs.new_key()
    with pg.scratch_database("ratio") as url:
        port = free_port()
        config = configs.apitest_config(
            work / "apitest.yaml",
            port=port,
            database_url=url,
            key=key,
            extra={"audit": {"capture_headers": True}},
        )
        server = apitest(ctx, "apitest", config, port).start()
        try:
            body = httpx.get(f"{server.url}/v1/whoami", headers={"X-API-Key": key}).content
            bare = baseline(ctx, "baseline", config, body).start()
            try:
                results: dict[str, list[float]] = {"healthz": [], "base_healthz": [], "whoami": [], "base_whoami": []}
                responses = 0
                for _ in range(args.rounds):
                    for name, target in (
                        ("healthz", Target(server.port, "/healthz")),
                        ("base_healthz", Target(bare.port, "/healthz")),
                        ("whoami", Target(server.port, "/v1/whoami", headers={"X-API-Key": key})),
                        ("base_whoami", Target(bare.port, "/v1/whoami")),
                    ):
                        summary = run_wrk(target, connections=args.connections, seconds=args.seconds)
                        results[name].append(summary.rps)
                        if name == "whoami":
                            responses += summary.requests
                sustained = 0.0
                if args.sustained > 0:
                    whoami = Target(server.port, "/v1/whoami", headers={"X-API-Key": key})
                    responses += run_wrk(whoami, connections=args.connections, seconds=args.sustained).requests
                    summary = run_wrk(whoami, connections=args.connections, seconds=args.sustained)
                    responses += summary.requests
                    sustained = summary.rps
                metrics = httpx.get(f"{server.url}/metrics").text
            finally:
                bare.stop()
        finally:
            server.stop()
        stored = asyncio.run(rows(url))
    for name, values in results.items():
        print(f"{name:14s} median {statistics.median(values):9.1f} rounds {values}")
    for subject in ("healthz", "whoami"):
        ratios = [a / b for a, b in zip(results[subject], results[f"base_{subject}"], strict=True)]
        median = statistics.median(results[subject]) / statistics.median(results[f"base_{subject}"])
        print(f"{subject} ratio median {median:.3f} per round {[round(r, 3) for r in ratios]}")
    if args.sustained > 0:
        base = statistics.median(results["base_whoami"])
        print(f"whoami sustained {sustained:.1f} req/s for {args.sustained:g} s, ratio {sustained / base:.3f}")
    print(f"whoami responses {responses} (+1 probe), audit rows {stored}")
    print(f"dropped_total {counter(metrics, 'apitest_audit_events_dropped_total')}")


if __name__ == "__main__":
    main()
