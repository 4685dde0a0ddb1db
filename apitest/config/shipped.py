"""Secrets whose values ship in ``configs/``: anyone who has read the repository knows them.

:data:`SHIPPED_SECRETS` is generated from the profiles (every literal value and every
``${VAR:-default}`` default of a secret key, see :func:`secrets_in_profile`); a test fails when it
differs from what ``configs/*.yaml`` holds, naming the new set.

Outside the dev profile (:func:`is_dev_profile`) the server refuses to start when a secret equals one
of them, or when the portal's cookie secret is empty: one line per key, naming how to set it.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from apitest.config.hosts import is_loopback
from apitest.config.model import Settings

SHIPPED_SECRETS = frozenset(
    {
        "bearer-please-change",
        "change-me-to-a-long-random-secret",
        "dev-only-cookie-secret-change-me",
        "devkey-please-change",
    }
)
# Secret keys that are not credentials of apitest: a connection string, whose shipped value points at the
# compose stack's local database.
NOT_CREDENTIALS = frozenset({"database.url"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def is_dev_profile(settings: Settings) -> bool:
    """The dev profile: the portal is open without sign-in (``portal.allow_anonymous``) and the server
    listens on a loopback address only, so no other machine can reach it. Shipped secrets are tolerated
    there (the portal is open anyway) and nowhere else."""
    return settings.portal.allow_anonymous and is_loopback(settings.listen_host())


def secret_fields(cls: type[Any], prefix: str = "") -> Iterator[str]:
    """The dotted path of every secret key of the model; keys of list items as ``path[].key``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        path = f"{prefix}{f.name}"
        tp = hints[f.name]
        if f.metadata.get("secret"):
            if path not in NOT_CREDENTIALS:
                yield path
        elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
            yield from secret_fields(tp, path + ".")
        elif typing.get_origin(tp) is list:
            (item,) = typing.get_args(tp)
            if dataclasses.is_dataclass(item) and isinstance(item, type):
                yield from secret_fields(item, path + "[].")


def _values_at(data: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield data
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = data.get(head[:-2]) if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            yield from _values_at(item, rest)
    elif isinstance(data, dict) and head in data:
        yield from _values_at(data[head], rest)


def secrets_in_profile(data: Mapping[str, Any]) -> set[str]:
    """The secret values a parsed profile ships: literals, and the defaults of ``${VAR:-default}``."""
    found: set[str] = set()
    for path in secret_fields(Settings):
        parts = path.replace("[].", "[]\0").replace(".", "\0").split("\0")
        for value in _values_at(dict(data), parts):
            if not isinstance(value, str) or not value:
                continue
            matches = list(_VAR.finditer(value))
            if not matches:
                found.add(value)
            found.update(m.group(2) for m in matches if m.group(2))
    return found


def settings_secrets(settings: Settings) -> Iterator[tuple[str, str]]:
    """``(display path, value)`` of every secret in effect, list items by index (``api_keys.file[0].key``)."""

    def walk(obj: Any, prefix: str) -> Iterator[tuple[str, str]]:
        for f in dataclasses.fields(obj):
            if f.metadata.get("internal"):
                continue
            value = getattr(obj, f.name)
            path = f"{prefix}{f.name}"
            if f.metadata.get("secret"):
                if path not in NOT_CREDENTIALS:
                    yield path, str(value)
            elif dataclasses.is_dataclass(value):
                yield from walk(value, path + ".")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if dataclasses.is_dataclass(item):
                        yield from walk(item, f"{path}[{i}].")

    yield from walk(settings, "")


DEV_SECRETS_VARS = ("APITEST_COOKIE_SECRET", "APITEST_DEV_KEY", "APITEST_DEV_BEARER")  # what make dev-secrets writes


def how_to_set(path: str, sources: Mapping[str, str]) -> str:
    """Where the value came from decides the advice: its ``${VAR}``, its override variable, or the file."""
    source = sources.get(path, "")
    env_path = re.sub(r"\[\d+\]", "", path)
    if source.startswith("${"):
        name = source[2:-1].split(",")[0]
        hint = " (make dev-secrets writes one to .env.dev)" if name in DEV_SECRETS_VARS else ""
        return f"set {name} to a random value{hint}"
    if source.startswith("env "):
        return f"set {source[4:]} to a random value"
    if "[" in path:
        return f"put a random value at {path} in the config file"
    return f"put a random value in the config file or set APITEST__{env_path.upper().replace('.', '__')}"


def shipped_secret_problems(settings: Settings, sources: Mapping[str, str]) -> list[str]:
    """One line per secret whose value ships in ``configs/``, outside the dev profile (an empty cookie secret
    is refused by :func:`apitest.config.validate.validate`, in every profile)."""
    if is_dev_profile(settings):
        return []
    problems = []
    for path, value in settings_secrets(settings):
        if value in SHIPPED_SECRETS:
            problems.append(
                f"{path} is a default shipped in configs/, known to anyone: {how_to_set(path, sources)} (only the"
                " dev profile, portal.allow_anonymous on a loopback address, accepts it)"
            )
    return problems
