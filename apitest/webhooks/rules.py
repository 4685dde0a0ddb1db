"""Validation of a subscription as the admin API and the portal receive it (both use these rules)."""

from __future__ import annotations

from typing import Any

from apitest.webhooks.events import EVENT_TYPE, parse_event_filter
from apitest.webhooks.signing import SCHEMES, new_secret
from apitest.webhooks.targets import TargetRefused, check_url

MAX_NAME = 100
MAX_URL = 2000
MAX_DESCRIPTION = 500
MAX_EVENT_TYPES = 20
SECRET_LENGTH = (16, 512)
EDITABLE = ("url", "filter", "event_types", "scheme", "active", "description")


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise ValueError(f"{key} required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be a string")
    value = value.strip()
    if not value:
        raise ValueError(f"{key} required")
    if len(value) > limit:
        raise ValueError(f"{key}: longer than {limit} characters")
    if any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError(f"{key}: control characters are not allowed")
    return value


def _event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("event_types: must be a list of strings")
    if len(value) > MAX_EVENT_TYPES:
        raise ValueError(f"event_types: at most {MAX_EVENT_TYPES}")
    for v in value:
        if v != "*" and not EVENT_TYPE.match(v):
            raise ValueError(f"event_types: {v!r} is not '*' or an event type like order.created")
    return list(dict.fromkeys(value))


def subscription_fields(
    body: Any, *, allowed_hosts: list[str], default_scheme: str, partial: bool = False
) -> dict[str, Any]:
    """The checked fields of a new subscription (``partial``: of an update, only those present).

    A new subscription without a ``secret`` gets a generated ``whsec_`` one."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    unknown = sorted(set(body) - {"name", "secret", *EDITABLE}) if not partial else sorted(set(body) - set(EDITABLE))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}" + (" (name and secret cannot change)" if partial else ""))
    out: dict[str, Any] = {}
    if not partial:
        out["name"] = _text(body, "name", MAX_NAME, required=True)
        secret = body.get("secret")
        if secret in (None, ""):
            out["secret"] = new_secret()
        elif not isinstance(secret, str) or not SECRET_LENGTH[0] <= len(secret) <= SECRET_LENGTH[1]:
            raise ValueError(f"secret: a string of {SECRET_LENGTH[0]} to {SECRET_LENGTH[1]} characters")
        elif not secret.isprintable() or not secret.isascii():
            raise ValueError("secret: printable ASCII only")
        else:
            out["secret"] = secret
    if not partial or "url" in body:
        url = _text(body, "url", MAX_URL, required=True)
        assert url is not None
        try:
            check_url(url, allowed_hosts)
        except TargetRefused as exc:
            raise ValueError(str(exc)) from None
        out["url"] = url
    if not partial or "filter" in body:
        text = _text(body, "filter", 1000)
        out["filter"] = parse_event_filter(text).text if text else None
    if not partial or "event_types" in body:
        out["event_types"] = _event_types(body.get("event_types", ["*"]))
    if not partial or "scheme" in body:
        scheme = body.get("scheme") or default_scheme
        if scheme not in SCHEMES:
            raise ValueError(f"scheme: one of {', '.join(SCHEMES)}")
        out["scheme"] = scheme
    if not partial or "active" in body:
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise ValueError("active: must be true or false")
        out["active"] = active
    if not partial or "description" in body:
        out["description"] = _text(body, "description", MAX_DESCRIPTION)
    return out
