"""The ``apitest`` command: serve, check, healthcheck, version (and, as features land, migrate, keys,
doctor). Errors are one line on stderr and exit code 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

import httpx

from apitest import __version__, logs
from apitest.auth.keys_cli import register as register_keys
from apitest.config import ConfigError, Settings, load_settings, masked_dict
from apitest.config.option import add_config_option
from apitest.config.reference import register as register_config_docs
from apitest.doctor import register as register_doctor
from apitest.tls.cli import register as register_tls

DEFAULT_HEALTHCHECK_URL = "http://127.0.0.1:8080/healthz"

Command = Callable[[argparse.Namespace], int]


def _load(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    address = getattr(args, "address", None)
    if address:
        environ["APITEST__SERVER__ADDRESS"] = address
    workers = getattr(args, "workers", None)
    if workers is not None:
        environ["APITEST__SERVER__WORKERS"] = str(workers)
    return load_settings(args.config, environ)


def cmd_serve(args: argparse.Namespace) -> int:
    from apitest.server import serve

    settings = _load(args)
    serve(settings)  # workers get this validated object, not the file or the environment again
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args)
    print(f"config {args.config}: ok")
    print(json.dumps(masked_dict(settings), indent=2))
    for name in settings.meta.unset_vars:
        print(f"warning: ${{{name}}} is referenced without a default and is not set", file=sys.stderr)
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    url = os.environ.get("APITEST_HEALTHCHECK_URL", DEFAULT_HEALTHCHECK_URL)
    try:
        status = httpx.get(url, timeout=3.0).status_code
    except httpx.HTTPError as exc:
        print(f"healthcheck {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck {url}: status {status}", file=sys.stderr)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    import asyncio

    from apitest.db.engine import Database, DatabaseError

    settings = _load(args)
    if not settings.database.url:
        print("apitest: database.url is empty; nothing to migrate", file=sys.stderr)
        return 1

    async def run() -> str | None:
        database = Database.from_settings(settings)
        try:
            await database.ping()
            await database.migrate()
            return await database.revision()
        finally:
            await database.dispose()

    try:
        revision = asyncio.run(run())
    except DatabaseError as exc:
        print(f"apitest: {exc}", file=sys.stderr)
        return 1
    print(f"database migrated to {revision}")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(f"apitest {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apitest", description="A deterministic HTTP fixture for testing API gateways."
    )
    parser.add_argument("--version", action="version", version=f"apitest {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        if config:
            add_config_option(p)
        p.set_defaults(func=func)
        return p

    serve = add("serve", cmd_serve, "Run the server.")
    serve.add_argument("--address", help="listen address, overrides server.address (e.g. 127.0.0.1:8080)")
    serve.add_argument("--workers", type=int, help="worker processes, overrides server.workers")
    add("check", cmd_check, "Validate a config and print the effective settings, secrets masked.")
    add("migrate", cmd_migrate, "Upgrade the database schema to the newest revision.")
    add("healthcheck", cmd_healthcheck, "GET $APITEST_HEALTHCHECK_URL; exit 0 only on 200.", config=False)
    add("version", cmd_version, "Print the version.", config=False)
    for register in EXTENSIONS:
        register(sub)
    return parser


# Feature modules add subcommands here: each is called with the subparsers object.
EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []
EXTENSIONS.append(register_config_docs)
EXTENSIONS.append(register_doctor)
EXTENSIONS.append(register_keys)
EXTENSIONS.append(register_tls)


def main(argv: Sequence[str] | None = None) -> int:
    logs.configure()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"apitest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
