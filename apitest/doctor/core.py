"""``apitest doctor``: run every check, print pass / warn / fail with the fix, exit 1 on any failure.

A check is an async function of a :class:`Context` returning :class:`Result` rows. Each row has a
stable ``check`` id (``oidc.issuer``, ``portal.cookie_secret``, ...) that docs/operations.md and
docs/troubleshooting.md refer to, so a symptom in the troubleshooting page leads to the check that
diagnoses it and back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx

from apitest.config import ConfigError, Settings
from apitest.config.loader import inspect_settings

Status = Literal["pass", "warn", "fail", "skip"]
LABELS: dict[Status, str] = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Result:
    check: str  # stable id, e.g. "oidc.issuer"
    status: Status
    message: str
    fix: str = ""


def ok(check: str, message: str) -> Result:
    return Result(check, "pass", message)


def warn(check: str, message: str, fix: str = "") -> Result:
    return Result(check, "warn", message, fix)


def fail(check: str, message: str, fix: str = "") -> Result:
    return Result(check, "fail", message, fix)


def skip(check: str, message: str) -> Result:
    return Result(check, "skip", message)


@dataclass
class Context:
    """What every check may look at. ``settings`` is best effort: set even when ``problems`` is not empty."""

    config_path: str
    settings: Settings | None
    problems: list[str]
    load_error: str | None
    environ: Mapping[str, str]
    http: httpx.AsyncClient
    url: str | None = None  # a running server to probe (--url)
    key: str | None = None  # credential for the running server's /metrics when it requires one
    timeout: float = DEFAULT_TIMEOUT
    clock: Callable[[], float] = time.time
    cache: dict[str, Any] = field(default_factory=dict)  # shared between checks (discovery document)


Check = Callable[[Context], Awaitable[list[Result]]]


def load_context(
    config_path: str,
    environ: Mapping[str, str],
    http: httpx.AsyncClient,
    **kwargs: Any,
) -> Context:
    try:
        settings, problems = inspect_settings(config_path, environ)
    except ConfigError as exc:
        return Context(config_path, None, [], "; ".join(exc.problems), environ, http, **kwargs)
    return Context(config_path, settings, problems, None, environ, http, **kwargs)


async def run_checks(ctx: Context, checks: list[Check]) -> list[Result]:
    results: list[Result] = []
    for check in checks:
        try:
            results.extend(await check(ctx))
        except Exception as exc:  # a doctor bug must still let the other checks report
            name = getattr(check, "__name__", "check").removeprefix("check_")
            results.append(fail(name, f"the check itself crashed: {type(exc).__name__}: {exc}", "report this as a bug"))
    return results


def render_text(ctx: Context, results: list[Result]) -> str:
    width = max([len(r.check) for r in results] + [10])
    lines = [f"apitest doctor: {ctx.config_path}" + (f" and {ctx.url}" if ctx.url else "")]
    for r in results:
        lines.append(f"{LABELS[r.status]}  {r.check:<{width}}  {r.message}")
        if r.fix and r.status in ("warn", "fail"):
            lines.append(f"      {'':<{width}}  fix: {r.fix}")
    lines.append(summary(results))
    return "\n".join(lines)


def render_json(ctx: Context, results: list[Result]) -> str:
    return json.dumps(
        {
            "config": ctx.config_path,
            "url": ctx.url,
            "ok": exit_code(results) == 0,
            "results": [asdict(r) for r in results],
        },
        indent=2,
    )


def summary(results: list[Result]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in LABELS}
    parts = [f"{counts['pass']} passed", f"{counts['warn']} warnings", f"{counts['fail']} failed"]
    if counts["skip"]:
        parts.append(f"{counts['skip']} skipped")
    return ", ".join(parts) + " (docs/operations.md#doctor explains each check)"


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.status == "fail" for r in results) else 0
