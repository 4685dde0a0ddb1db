"""Test helpers: build settings and apps from YAML snippets, and run a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette

from apitest.app import create_app
from apitest.audit.buffer import AuditWriter
from apitest.config import Settings, load_settings
from apitest.registry import GROUP_NAMES as GROUPS

ALL_GROUPS = list(GROUPS)  # every endpoint group, from the settings model


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def make_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None, groups: list[str] | None = None
) -> Settings:
    """Anonymous access and the given groups (default: all), plus ``overrides`` merged in."""
    base: dict[str, Any] = {
        "auth": {"allow_anonymous": True},
        "endpoints": {g: {"enabled": True} for g in (ALL_GROUPS if groups is None else groups)},
        "server": {"shutdown": {"pre_shutdown_delay": "0s", "grace_period": "2s"}},
        # The in-process client sends Host: testserver; live servers are reached as 127.0.0.1.
        "portal": {"allowed_hosts": ["testserver", "127.0.0.1", "localhost"]},
    }
    data = deep_merge(base, overrides or {})
    return load_settings(text=yaml.safe_dump(data), environ=environ or {})


def make_app(
    overrides: dict[str, Any] | None = None, *, audit_writer: AuditWriter | None = None, **kwargs: Any
) -> Starlette:
    """The app of :func:`make_settings`; ``audit_writer`` (over an in-memory store) turns the audit on."""
    return create_app(make_settings(overrides, **kwargs), audit_writer=audit_writer)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a background thread."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            loop="asyncio",
            http="h11",
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextlib.contextmanager
def live_server(app: Starlette) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class MetricSources:
    """What /metrics reads (apitest.metrics.Sources), mutable so a test can swap the writer it reports."""

    settings: Settings
    database: Any = None
    audit: Any = None
    webhooks: Any = None
