"""CPU cost of one ``/v1`` request inside the app, feature by feature (the first part of ``make profile``).

The app runs in this process with its lifespan; requests are ASGI calls (no sockets, no HTTP parsing), 32 at a
time, and the cost is ``time.process_time()`` per request, the audit writer's work included (it is flushed
before the clock stops). Process CPU time, unlike wall time, is not inflated when other work shares the
machine. Each layer is added to the previous one, so the differences are what each feature costs; the
database-key layer (10,000 keys in a SQLite table, audit off) and the first audit layer are compared with the
file-key layer instead:

    python -m bench.hotpath [--requests 5000] [--path /v1/whoami] [--no-audit] [--no-db-key]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import Message

from apitest import logs
from apitest.app import create_app
from apitest.config import load_settings
from apitest.db.engine import upgrade
from apitest.server import settle_heap
from bench import configs, pg
from bench.auth_keys import _fill as fill_keys
from bench.baseline_app import build as build_baseline
from bench.scenario import ROOT

KEY = "bench_hotpath_key_0123456789abcdef"
DB_KEYS = 10_000  # database keys in the table of the database-key layer, as in the db_keys scenario
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


def request_headers(key: str) -> list[tuple[bytes, bytes]]:
    """:data:`HEADERS` presenting ``key`` as the API key, or no key at all when it is empty."""
    return [
        (name, key.encode()) if name == b"x-api-key" else (name, value)
        for name, value in HEADERS
        if key or name != b"x-api-key"
    ]


async def drive(app: Starlette, path: str, n: int, key: str) -> float:
    """CPU seconds per request for ``n`` requests presenting ``key`` (none when empty), ``CONCURRENCY`` at
    a time."""
    headers = request_headers(key)
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one() -> None:
        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope_for(path, headers), receive, send)

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


@dataclass(frozen=True)
class Layer:
    label: str
    make: Callable[[], Starlette]
    access_log: bool
    key: str  # the API key presented ("" for none)
    base: str = ""  # the layer this one is compared with ("" for the one before)


FILE_KEY_LAYER = "+ API key auth (file key)"
DB_KEY_LAYER = f"database key instead of the file key ({DB_KEYS:,} keys, SQLite)"


def layers(database_url: str, keys: tuple[str, str] = ("", "")) -> list[Layer]:
    """The layers in the order features are added; ``keys``: a SQLite database holding database keys and one
    of them, for the database-key layer (left out when empty)."""

    def apitest_app(**options: Any) -> Callable[[], Starlette]:
        def make() -> Starlette:
            path = configs.apitest_config(ROOT / "bench" / "results" / "hotpath.yaml", port=8080, **options)
            return create_app(load_settings(path, {}))

        return make

    body = b'{"subject":"bench","auth_type":"apikey","key_name":"bench"}\n'
    no_metrics = {"metrics": {"enabled": False}}
    layered = [
        Layer("bare Starlette route (the overhead baseline)", lambda: build_baseline(body), False, ""),
        Layer(
            "apitest, anonymous; no access log, metrics or audit",
            apitest_app(anonymous=True, extra=no_metrics),
            False,
            "",
        ),
        Layer("+ JSON access log line", apitest_app(anonymous=True, extra=no_metrics), True, ""),
        Layer("+ Prometheus metrics", apitest_app(anonymous=True), True, ""),
        Layer(FILE_KEY_LAYER, apitest_app(key=KEY), True, KEY),
    ]
    keys_url, db_key = keys
    if keys_url:
        db_keys = {"api_keys": {"db": {"enabled": True}}, "database": {"migrate_on_boot": False}}
        make = apitest_app(key=KEY, database_url=keys_url, audit=False, extra=db_keys)
        layered.append(Layer(DB_KEY_LAYER, make, True, db_key, base=FILE_KEY_LAYER))
    if database_url:
        layered += [
            Layer(
                "+ audit, no payloads (capture, enqueue, write)",
                apitest_app(key=KEY, database_url=database_url, capture_payloads=False),
                True,
                KEY,
                base=FILE_KEY_LAYER,
            ),
            Layer("+ payload capture and redaction", apitest_app(key=KEY, database_url=database_url), True, KEY),
        ]
    return layered


def measure(
    path: str, n: int, database_url: str, rounds: int, keys: tuple[str, str] = ("", "")
) -> list[tuple[Layer, float]]:
    """The best of ``rounds`` for each layer; rounds go through all layers in turn, so drift hits all alike."""
    best: dict[str, float] = {}
    order = layers(database_url, keys)
    for _ in range(rounds):
        for layer in order:  # each layer builds a fresh app per round
            logging.getLogger("apitest.access").setLevel(logging.INFO if layer.access_log else logging.WARNING)
            target = "/v1/whoami" if layer.label.startswith("bare") else path
            app = layer.make()
            settle_heap()  # as `apitest serve` does once the app is built
            per_request = asyncio.run(drive(app, target, n, layer.key))
            best[layer.label] = min(best.get(layer.label, per_request), per_request)
            print(f"  {per_request * 1e6:8.1f} µs  {layer.label}", file=sys.stderr, flush=True)
    return [(layer, best[layer.label]) for layer in order]


def key_database(workdir: Path) -> tuple[str, str]:
    """A migrated SQLite database holding :data:`DB_KEYS` database keys, and one of them."""
    url = f"sqlite+aiosqlite:///{workdir}/keys.db"
    upgrade(url)
    return url, asyncio.run(fill_keys(url, DB_KEYS))


def report(results: list[tuple[Layer, float]]) -> str:
    """A table of each layer's cost and what it adds to the layer it is compared with."""
    lines = ["| layer | CPU per request | added by this layer |", "|---|---:|---:|"]
    costs: dict[str, float] = {}
    previous = None
    for layer, cost in results:
        base = costs.get(layer.base) if layer.base else previous
        added = "" if base is None else f"{(cost - base) * 1e6:+.0f} µs"
        if layer.base:
            added += f" (vs {layer.base.removeprefix('+ ')})"
        lines.append(f"| {layer.label} | {cost * 1e6:.0f} µs | {added} |")
        costs[layer.label] = previous = cost
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.hotpath")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--path", default="/v1/whoami")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs per layer")
    parser.add_argument("--no-audit", action="store_true", help="skip the layers that need PostgreSQL")
    parser.add_argument("--no-db-key", action="store_true", help="skip the database-key layer")
    args = parser.parse_args(argv)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the access log's handler writes here for the whole run
    with contextlib.redirect_stderr(devnull):
        logs.configure()
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="apitest-hotpath-") as workdir:
        keys = ("", "") if args.no_db_key else key_database(Path(workdir))
        if args.no_audit or not pg.available():
            results = measure(args.path, args.requests, "", args.rounds, keys)
        else:
            with pg.scratch_database("hotpath") as url:
                results = measure(args.path, args.requests, url, args.rounds, keys)
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
