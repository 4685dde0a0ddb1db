"""``apitest keys``: create, list and revoke database API keys from the command line.

    apitest keys create --name ci --scopes read,write --expires 30d [--description TEXT]
    apitest keys list [--json]
    apitest keys revoke ci

``create`` prints the plaintext key once, alone on stdout (so ``KEY=$(apitest keys create ...)`` works),
and what was created on stderr. The database is migrated first when ``database.migrate_on_boot`` is on,
as the server would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apitest.config.option import add_config_option

if TYPE_CHECKING:
    from apitest.auth.keystore import KeyStore
    from apitest.config import Settings

_RELATIVE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_expires(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` from now, or an RFC 3339 timestamp with an offset."""
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now + timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--expires {text!r}: use a duration such as 30d or 12h, or an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"--expires {text!r}: an RFC 3339 timestamp needs a time zone offset (e.g. Z)")
    return parsed.astimezone(UTC)


def parse_scopes(values: list[str]) -> list[str]:
    """``--scopes read,write`` and ``--scopes "read write"``, repeatable."""
    return [s for value in values for s in re.split(r"[,\s]+", value) if s]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_config_option(common)
    keys = sub.add_parser("keys", help="Manage database API keys.", description="Manage database API keys.")
    actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="Create a key; prints the plaintext once.")
    create.add_argument("--name", required=True, help="unique name; becomes the caller's subject and key_name")
    create.add_argument("--scopes", action="append", default=[], help="scopes granted, e.g. read,write")
    create.add_argument("--expires", help="lifetime (30d, 12h) or RFC 3339 expiry; default: never")
    create.add_argument("--description", default=None, help="free text")
    create.set_defaults(func=cmd_create)
    listing = actions.add_parser("list", parents=[common], help="List keys (prefix only, never the key).")
    listing.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    listing.set_defaults(func=cmd_list)
    revoke = actions.add_parser("revoke", parents=[common], help="Revoke the active key with this name.")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)


def _with_store(args: argparse.Namespace, action: Callable[[KeyStore], Awaitable[int]]) -> int:
    from apitest.auth.keystore import KeyStore, reserved_names
    from apitest.config import load_settings
    from apitest.db.engine import Database, DatabaseError

    settings: Settings = load_settings(args.config)
    if not settings.database.url:
        print("apitest: database.url is empty; database keys need a database", file=sys.stderr)
        return 1
    if not settings.api_keys.db.enabled:
        print("apitest: warning: api_keys.db.enabled is false; the server ignores database keys", file=sys.stderr)

    async def run() -> int:
        database = Database.from_settings(settings)
        store = KeyStore(database, pepper=settings.api_keys.db.pepper, reserved=reserved_names(settings))
        try:
            await database.ping()
            if settings.database.migrate_on_boot:
                await database.migrate()
            return await action(store)
        finally:
            await store.close()
            await database.dispose()

    try:
        return asyncio.run(run())
    except (DatabaseError, ValueError) as exc:
        print(f"apitest: {exc}", file=sys.stderr)
        return 1


def cmd_create(args: argparse.Namespace) -> int:
    from apitest.db.models import utcnow

    try:
        expires = parse_expires(args.expires, utcnow()) if args.expires else None
    except ValueError as exc:
        print(f"apitest: {exc}", file=sys.stderr)
        return 1
    scopes = parse_scopes(args.scopes)

    async def create(store: KeyStore) -> int:
        record, plaintext = await store.create(
            args.name, description=args.description, scopes=scopes, expires_at=expires, created_by="cli"
        )
        info = f"created api key {record.name!r} ({record.prefix}…)"
        info += f", scopes {' '.join(record.scopes)}" if record.scopes else ", no scopes"
        info += f", expires {record.expires_at.isoformat()}" if record.expires_at else ", never expires"
        print(info + "; the key below is shown only this once:", file=sys.stderr)
        print(plaintext)
        return 0

    return _with_store(args, create)


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if isinstance(value, list):
        value = ",".join(value)
    return str(value) if value else "-"


def _table(rows: list[dict[str, Any]]) -> str:
    columns = ["name", "prefix", "status", "scopes", "created_at", "expires_at", "last_used_at"]
    cells = [[_cell(row, c) for c in columns] for row in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def cmd_list(args: argparse.Namespace) -> int:
    from apitest.db.models import utcnow

    async def listing(store: KeyStore) -> int:
        now = utcnow()
        rows = [k.to_json(now) for k in await store.list_keys()]
        print(json.dumps({"keys": rows}, indent=2) if args.json else _table(rows) if rows else "no api keys")
        return 0

    return _with_store(args, listing)


def cmd_revoke(args: argparse.Namespace) -> int:
    async def revoke(store: KeyStore) -> int:
        if not await store.revoke(args.name):
            print(f"apitest: no active api key named {args.name!r}", file=sys.stderr)
            return 1
        print(f"revoked api key {args.name!r}", file=sys.stderr)
        return 0

    return _with_store(args, revoke)
