"""Load a YAML profile into :class:`Settings`.

Pipeline: parse YAML (duplicate keys rejected) → interpolate ``${VAR}`` / ``${VAR:-default}`` in every
string scalar → build the typed tree (unknown keys rejected, naming the closest valid key) → apply
``APITEST__SECTION__KEY`` environment overrides → derive defaults → validate. Every problem found on
the way is collected and reported together.

Interpolation is done per scalar after parsing, not on the raw text: an environment value can never
inject YAML structure, and comments are never interpolated. A set-but-empty variable wins over the
default (unlike POSIX ``:-``), so ``${VAR:-x}`` with ``VAR=`` is empty.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from apitest.config.hosts import default_allowed_hosts
from apitest.config.model import DEFAULT_REDACT_KEYS, ConfigMeta, Settings
from apitest.config.shipped import shipped_secret_problems
from apitest.config.validate import validate

ENV_PREFIX = "APITEST__"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)\s*)+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a Go-style duration string such as ``2s``, ``1h30m`` or ``250ms``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not _DURATION.match(text):
        raise ValueError(f"invalid duration {text!r} (use e.g. 500ms, 2s, 1h)")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def interpolate(text: str, environ: Mapping[str, str], unset: list[str] | None = None) -> tuple[str, list[str]]:
    """Replace ``${VAR}`` and ``${VAR:-default}``; returns the text and the variables referenced."""
    used: list[str] = []

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        used.append(name)
        if name in environ:
            return environ[name]
        if default is None and unset is not None:
            unset.append(name)
        return default or ""

    return _VAR.sub(repl, text), used


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else f" (valid keys: {', '.join(options)})"


def _field_types(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _public_fields(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


class _Builder:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.sources: dict[str, str] = {}
        self.unset: list[str] = []

    def scalar(self, value: Any, path: str) -> Any:
        if isinstance(value, str) and "${" in value:
            out, used = interpolate(value, self.environ, self.unset)
            self.sources[path] = "${" + ",".join(dict.fromkeys(used)) + "}"
            return out
        self.sources.setdefault(path, "file")
        return value

    def coerce(self, tp: Any, value: Any, path: str, kind: str) -> Any:
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.build(tp, value, path)
        if origin is list:
            (item_tp,) = typing.get_args(tp)
            if isinstance(value, str):
                value = self.scalar(value, path)
                value = [v.strip() for v in value.split(",") if v.strip()] if value else []
            if not isinstance(value, list):
                self.problems.append(f"{path}: expected a list")
                return []
            return [self.coerce(item_tp, v, f"{path}[{i}]", "") for i, v in enumerate(value)]
        if origin is dict:
            _, val_tp = typing.get_args(tp)
            if not isinstance(value, dict):
                self.problems.append(f"{path}: expected a mapping")
                return {}
            return {str(k): self.coerce(val_tp, v, f"{path}.{k}", "") for k, v in value.items()}
        value = self.scalar(value, path)
        try:
            if kind == "duration":
                return parse_duration(value)
            if tp is bool:
                return _to_bool(value)
            if tp is int:
                return _to_int(value)
            if tp is float:
                return float(value)
            if tp is str:
                if value is None:
                    return ""
                if isinstance(value, dict | list):
                    raise ValueError("expected a string")
                return str(value)
        except (TypeError, ValueError) as exc:
            self.problems.append(f"{path}: {exc}")
            return None
        raise TypeError(f"unsupported settings type {tp!r}")  # pragma: no cover - model bug

    def build(self, cls: type[Any], data: Any, prefix: str) -> Any:
        obj = cls()
        if data is None:
            return obj
        if not isinstance(data, dict):
            self.problems.append(f"{prefix or 'config'}: expected a mapping")
            return obj
        fields = {f.name: f for f in _public_fields(cls)}
        hints = _field_types(cls)
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            f = fields.get(str(key))
            if f is None:
                self.problems.append(f"unknown key {path!r}{_closest(str(key), list(fields))}")
                continue
            coerced = self.coerce(hints[f.name], value, path, f.metadata.get("kind", ""))
            if coerced is not None:
                setattr(obj, f.name, coerced)
        return obj


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(text)


def _apply_env_overrides(settings: Settings, builder: _Builder, environ: Mapping[str, str]) -> None:
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        target: Any = settings
        cls: type[Any] = Settings
        for depth, part in enumerate(parts):
            fields = {f.name: f for f in _public_fields(cls)}
            dotted = ".".join(parts[: depth + 1])
            f = fields.get(part)
            if f is None:
                builder.problems.append(f"{name}: unknown key {dotted!r}{_closest(part, list(fields))}")
                break
            tp = _field_types(cls)[f.name]
            if depth == len(parts) - 1:
                if dataclasses.is_dataclass(tp):
                    builder.problems.append(f"{name}: {dotted!r} is a section; name one of its keys")
                    break
                raw = environ[name]
                parsed = yaml.safe_load(raw) if typing.get_origin(tp) in (list, dict) and raw.strip() else raw
                value = builder.coerce(tp, parsed, dotted, f.metadata.get("kind", ""))
                if value is not None:
                    setattr(target, f.name, value)
                builder.sources[dotted] = f"env {name}"
            elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
                target, cls = getattr(target, f.name), tp
            else:
                builder.problems.append(f"{name}: {dotted!r} is not a section")
                break


def _derive_defaults(settings: Settings) -> None:
    if not settings.server.base_url:
        scheme = "https" if settings.server.tls.enabled or settings.server.tls.dev_ca else "http"
        settings.server.base_url = f"{scheme}://localhost:{settings.listen_port()}"
    if not settings.audit.redact_keys:
        settings.audit.redact_keys = list(DEFAULT_REDACT_KEYS)
    if not settings.portal.allowed_hosts:
        settings.portal.allowed_hosts = default_allowed_hosts(settings.server.base_url)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    text: str | None = None,
) -> Settings:
    """Load, override, derive and validate; raises :class:`ConfigError` listing every problem."""
    settings, problems = inspect_settings(path, environ, text=text)
    if problems:
        raise ConfigError(problems)
    return settings


def inspect_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    text: str | None = None,
) -> tuple[Settings, list[str]]:
    """Like :func:`load_settings`, but return the problems with the best-effort settings instead of
    raising (``apitest doctor`` keeps checking a broken file). Unreadable or unparsable files still raise."""
    env = os.environ if environ is None else environ
    source = str(path) if path is not None else "<inline>"
    if text is None:
        if path is None:
            raise ValueError("either path or text is required")
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError([f"read config {source}: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) or {}  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([f"parse config {source}: {' '.join(str(exc).split())}"]) from exc
    builder = _Builder(env)
    settings: Settings = builder.build(Settings, data, "")
    _apply_env_overrides(settings, builder, env)
    _derive_defaults(settings)
    builder.problems.extend(validate(settings, env))
    builder.problems.extend(shipped_secret_problems(settings, builder.sources))
    settings.meta = ConfigMeta(path=source, sources=builder.sources, unset_vars=sorted(set(builder.unset)))
    return settings, builder.problems


def default_settings(**overrides: Any) -> Settings:
    """Defaults plus derived values, unvalidated: a starting point for tests and tools."""
    settings = Settings()
    for key, value in overrides.items():
        setattr(settings, key, value)
    _derive_defaults(settings)
    return settings


def source_of(settings: Settings, dotted: str) -> str:
    """Where a key's value came from: a file, a ${VAR}, an override variable, or the default."""
    return settings.meta.sources.get(dotted, "default")


__all__ = [
    "ConfigError",
    "default_settings",
    "inspect_settings",
    "interpolate",
    "load_settings",
    "parse_duration",
    "source_of",
]
