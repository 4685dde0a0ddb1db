"""``apitest doctor [--config FILE] [--url URL]``: diagnose the failure modes of docs/troubleshooting.md.

Every check prints pass, warn or fail with the fix; the exit code is 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping

import httpx

from apitest.config.option import add_config_option
from apitest.doctor.core import (
    DEFAULT_TIMEOUT,
    Check,
    Context,
    Result,
    exit_code,
    load_context,
    render_json,
    render_text,
    run_checks,
)
from apitest.doctor.local import (
    check_anonymous,
    check_audit,
    check_base_url,
    check_config,
    check_cookie_secure,
    check_credentials,
    check_env,
    check_other_rules,
    check_portal_cookie,
    check_portal_files,
)
from apitest.doctor.remote import check_database, check_oidc, check_server
from apitest.doctor.tls import check_tls

CHECKS: list[Check] = [
    check_config,
    check_env,
    check_credentials,
    check_anonymous,
    check_database,
    check_audit,
    check_oidc,
    check_portal_cookie,
    check_cookie_secure,
    check_portal_files,
    check_base_url,
    check_other_rules,
    check_tls,
    check_server,
]


async def diagnose(
    config_path: str,
    *,
    environ: Mapping[str, str] | None = None,
    url: str | None = None,
    key: str | None = None,
    check_timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Context, list[Result]]:
    """Run every check; ``transport`` replaces the network in tests."""
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as http:
        ctx = load_context(
            config_path, os.environ if environ is None else environ, http, url=url, key=key, timeout=check_timeout
        )
        return ctx, await run_checks(ctx, CHECKS)


def cmd_doctor(args: argparse.Namespace) -> int:
    ctx, results = asyncio.run(diagnose(args.config, url=args.url, key=args.key, check_timeout=args.timeout))
    print(render_json(ctx, results) if args.json else render_text(ctx, results))
    return exit_code(results)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``apitest doctor``: the CLI extension hook (see ``apitest.cli.EXTENSIONS``)."""
    p = sub.add_parser(
        "doctor",
        help="Check a config and its surroundings (database, IdP, clock, cookies, a running server).",
        description="Check a config and its surroundings; prints pass / warn / fail with the fix for each "
        "check and exits 1 when any check fails. See docs/operations.md#doctor.",
    )
    add_config_option(p)
    p.add_argument("--url", help="a running apitest to probe: /healthz, /readyz and audit drops from /metrics")
    p.add_argument("--key", default=os.environ.get("APITEST_DOCTOR_KEY"), help="API key for /metrics if it needs one")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per network check (default 5)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_doctor)


__all__ = ["CHECKS", "Result", "diagnose", "register"]


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="apitest")
    register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["doctor", *sys.argv[1:]])
    sys.exit(parsed.func(parsed))
