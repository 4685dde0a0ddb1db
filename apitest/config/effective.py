"""The effective settings as plain data, with every secret masked: for ``apitest check``, the portal
config page and logs."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from apitest.config.model import Settings

REDACTED = "[redacted]"


def mask_database_url(url: str) -> str:
    """Replace the password of a URL-form DSN with ``xxxxx``; a password in the query hides it all."""
    if not url:
        return url
    parts = urlsplit(url)
    query = parts.query.lower()
    if "password=" in query:
        return REDACTED
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":xxxxx"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def _mask(value: Any, f: dataclasses.Field[Any] | None, path: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            g.name: _mask(getattr(value, g.name), g, f"{path}.{g.name}" if path else g.name)
            for g in dataclasses.fields(value)
            if not g.metadata.get("internal")
        }
    if isinstance(value, list):
        return [_mask(v, None, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _mask(v, None, f"{path}.{k}") for k, v in value.items()}
    if f is not None and f.metadata.get("secret") and value:
        return mask_database_url(value) if path == "database.url" else REDACTED
    return value


def masked_dict(settings: Settings) -> dict[str, Any]:
    """The whole settings tree as JSON-ready data, secrets replaced by ``[redacted]``."""
    out = _mask(settings, None, "")
    assert isinstance(out, dict)
    return out


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``[("server.address", ":8080"), ...]``; lists of scalars stay whole, lists of mappings are indexed."""
    rows: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            rows.extend(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and any(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            rows.extend(flatten(v, f"{prefix}[{i}]"))
    else:
        rows.append((prefix, data))
    return rows
