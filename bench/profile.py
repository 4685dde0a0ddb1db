"""Profile apitest's request path under load with pyinstrument (``make profile``).

The server runs in this process (same uvicorn settings as ``apitest serve``), configured like the overhead
scenario: an API key, audit to a scratch Postgres database with payload capture. wrk (or the Python
generator) loads it from a thread for ``--seconds``; pyinstrument samples the event-loop thread the whole
time, so the report shows where the server's CPU goes: uvicorn, middleware, auth, capture, redaction,
enqueue and the audit writer.

    python -m bench.profile [--path /v1/whoami] [--seconds 10] [--no-audit] [--html out.html]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import uvicorn
from pyinstrument import Profiler

from bench import configs, pg
from bench.procs import free_port
from bench.scenario import ROOT
from bench.wrk import LoadSummary, Target, throughput


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("--path", default="/v1/whoami")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-audit", action="store_true", help="profile without the database and audit")
    parser.add_argument("--no-key", action="store_true", help="anonymous access instead of the API key")
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval in seconds")
    parser.add_argument("--html", default="", help="also write pyinstrument's HTML report here")
    args = parser.parse_args(argv)

    from apitest import logs
    from apitest.app import create_app
    from apitest.config import load_settings
    from apitest.server import uvicorn_config

    cpus = os.sched_getaffinity(0)
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {0})  # this thread serves on CPU 0; the load thread (and wrk) takes the rest
    key = "" if args.no_key else configs.new_key()
    port = free_port()
    log_dir = ROOT / "bench" / "results"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[LoadSummary] = []

    def profile(database_url: str) -> Profiler:
        path = configs.apitest_config(
            log_dir / "profile.yaml", port=port, database_url=database_url, key=key, anonymous=args.no_key
        )
        logs.configure()
        settings = load_settings(path, {})
        server = uvicorn.Server(uvicorn_config(settings, create_app(settings)))
        headers = {"X-API-Key": key} if key else {}
        if args.body:
            headers["Content-Type"] = "application/json"
        target = Target(port, args.path, args.method, headers, args.body.encode())

        def load() -> None:
            if len(cpus) >= 2:
                os.sched_setaffinity(0, cpus - {0})
            while not server.started:
                time.sleep(0.05)
            try:
                results.append(throughput(target, connections=args.connections, seconds=args.seconds))
            finally:
                server.should_exit = True

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        profiler = Profiler(interval=args.interval, async_mode="disabled")
        with profiler:
            server.run()
        loader.join()
        return profiler

    if args.no_audit:
        profiler = profile("")
    else:
        with pg.scratch_database("profile") as db_url:
            profiler = profile(db_url)
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    for r in results:
        print(f"load: {r.rps:,.0f} req/s, p50 {r.p50_ms} ms, p99 {r.p99_ms} ms, {r.non_2xx} non-2xx, {r.errors} errors")
    if args.html:
        Path(args.html).write_text(profiler.output_html())
        print(f"HTML report: {args.html}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
