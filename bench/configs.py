"""apitest configuration files for the bench: loopback address, a file API key, audit to a scratch database."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

ALL_GROUPS = ("identity", "data", "failure", "echo", "streaming", "pagination", "methods", "security", "export", "lab")
BENCH_KEY_NAME = "bench"


def new_key() -> str:
    return "bench_" + secrets.token_urlsafe(24)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def apitest_config(
    path: Path,
    *,
    port: int,
    database_url: str = "",
    key: str = "",
    anonymous: bool = False,
    audit: bool = True,
    capture_payloads: bool = True,
    workers: int = 1,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a profile for one bench server and return its path."""
    data: dict[str, Any] = {
        "server": {
            "address": f"127.0.0.1:{port}",
            "workers": workers,
            "shutdown": {"pre_shutdown_delay": "0s", "grace_period": "20s"},
        },
        "auth": {"allow_anonymous": anonymous},
        "endpoints": {group: {"enabled": True} for group in ALL_GROUPS},
        "rate_limit": {"enabled": False},
    }
    if key:
        data["api_keys"] = {"file": [{"name": BENCH_KEY_NAME, "key": key}]}
    if database_url:
        data["database"] = {"url": database_url}
        data["audit"] = {"enabled": audit, "capture_payloads": capture_payloads, "retention_days": 0}
    data = deep_merge(data, extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
