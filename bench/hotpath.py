"""CPU cost of one ``/v1`` request inside the app, feature by feature (the first part of ``make profile``).

The app runs in this process with its lifespan; requests are ASGI calls (no sockets, no HTTP parsing), 32 at a
time, and the cost is ``time.process_time()`` per request, the audit writer's work included (it is flushed
before the clock stops). Process CPU time, unlike wall time, is not inflated when other work shares the
machine. Each layer is added to the previous one, so the differences are what each feature costs:

    python -m bench.hotpath [--requests 5000] [--path /v1/whoami]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.types import Message

from apitest import logs
from apitest.app import create_app
from apitest.config import load_settings
from apitest.server import settle_heap
from bench import configs, pg
from bench.baseline_app import build as build_baseline
from bench.scenario import ROOT

KEY = "bench_hotpath_key_0123456789abcdef"
CONCURRENCY = 32


def scope_for(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }


HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"user-agent", b"apitest-bench"),
    (b"accept", b"*/*"),
    (b"x-api-key", KEY.encode()),
    (b"x-forwarded-for", b"10.0.0.1"),
    (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
]


async def drive(app: Starlette, path: str, n: int, with_key: bool) -> float:
    """CPU seconds per request for ``n`` requests, ``CONCURRENCY`` at a time."""
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one() -> None:
        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope_for(path, [h for h in HEADERS if with_key or h[0] != b"x-api-key"]), receive, send)

    async def batch(count: int) -> None:
        for start in range(0, count, CONCURRENCY):
            await asyncio.gather(*(one() for _ in range(min(CONCURRENCY, count - start))))

    async with app.router.lifespan_context(app):
        await batch(min(500, n))  # warm up
        writer = getattr(getattr(app.state, "services", None), "audit", None)
        if writer is not None:
            await writer.flush(60)
        statuses.clear()
        started = time.process_time()
        await batch(n)
        if writer is not None:
            await writer.flush(60)  # the events these requests produced are written on this clock too
        elapsed = time.process_time() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"{path} answered {statuses}")
    return elapsed / n


Layer = tuple[str, Callable[[], Starlette], bool, bool]  # label, app factory, access log on, send the API key


def layers(database_url: str) -> list[Layer]:
    """The layers in the order features are added."""

    def apitest_app(**options: Any) -> Callable[[], Starlette]:
        def make() -> Starlette:
            path = configs.apitest_config(ROOT / "bench" / "results" / "hotpath.yaml", port=8080, **options)
            return create_app(load_settings(path, {}))

        return make

    body = b'{"subject":"bench","auth_type":"apikey","key_name":"bench"}\n'
    no_metrics = {"metrics": {"enabled": False}}
    layered: list[Layer] = [
        ("bare Starlette route (the overhead baseline)", lambda: build_baseline(body), False, False),
        (
            "apitest, anonymous; no access log, metrics or audit",
            apitest_app(anonymous=True, extra=no_metrics),
            False,
            False,
        ),
        ("+ JSON access log line", apitest_app(anonymous=True, extra=no_metrics), True, False),
        ("+ Prometheus metrics", apitest_app(anonymous=True), True, False),
        ("+ API key auth (file key)", apitest_app(key=KEY), True, True),
    ]
    if database_url:
        layered += [
            (
                "+ audit, no payloads (capture, enqueue, write)",
                apitest_app(key=KEY, database_url=database_url, capture_payloads=False),
                True,
                True,
            ),
            ("+ payload capture and redaction", apitest_app(key=KEY, database_url=database_url), True, True),
        ]
    return layered


def measure(path: str, n: int, database_url: str, rounds: int) -> list[tuple[str, float]]:
    """The best of ``rounds`` for each layer; rounds go through all layers in turn, so drift hits all alike."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, make, access_log, with_key in layers(database_url):
            logging.getLogger("apitest.access").setLevel(logging.INFO if access_log else logging.WARNING)
            target = "/v1/whoami" if label.startswith("bare") else path
            app = make()
            settle_heap()  # as `apitest serve` does once the app is built
            per_request = asyncio.run(drive(app, target, n, with_key))
            best[label] = min(best.get(label, per_request), per_request)
            print(f"  {per_request * 1e6:8.1f} µs  {label}", file=sys.stderr, flush=True)
    return list(best.items())


def report(results: list[tuple[str, float]]) -> str:
    lines = ["| layer | CPU per request | added by this layer |", "|---|---:|---:|"]
    previous = None
    for label, cost in results:
        added = "" if previous is None else f"{(cost - previous) * 1e6:+.0f} µs"
        lines.append(f"| {label} | {cost * 1e6:.0f} µs | {added} |")
        previous = cost
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.hotpath")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--path", default="/v1/whoami")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs per layer")
    parser.add_argument("--no-audit", action="store_true", help="skip the layers that need PostgreSQL")
    args = parser.parse_args(argv)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the access log's handler writes here for the whole run
    with contextlib.redirect_stderr(devnull):
        logs.configure()
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    if args.no_audit or not pg.available():
        results = measure(args.path, args.requests, "", args.rounds)
    else:
        with pg.scratch_database("hotpath") as url:
            results = measure(args.path, args.requests, url, args.rounds)
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
