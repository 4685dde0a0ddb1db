"""Is a bearer token a JWT? Only JWT-shaped tokens go to the OIDC validator; others (``abc123``) fall
through to the static bearer tokens.

JWT-shaped means exactly three dot-separated segments whose first one decodes (base64url, padding
optional) to a JSON object with a non-empty string ``alg``. Nothing here is trusted: it only routes.

A header that is JSON but hostile (nested deeper than :data:`apitest.safejson.MAX_DEPTH`, duplicate keys,
``NaN`` or an out-of-range number) raises :class:`MalformedJWT`: it is a JWT-shaped token that is invalid,
answered 401 ``malformed token`` by the validator (and never a 500).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from apitest.safejson import JSONError, loads

MAX_HEADER_SEGMENT = 8192
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class MalformedJWT(ValueError):
    """A JWT-shaped token whose header JSON is refused; the message is the reason."""


def b64url_decode(segment: str) -> bytes:
    """Strict base64url: the URL-safe alphabet only, padding optional."""
    if not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    stripped = segment.rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def jwt_header(token: str) -> dict[str, Any] | None:
    """The decoded JOSE header of a JWT-shaped token, else ``None``; raises :class:`MalformedJWT` when the
    header is JSON that must be refused (too deep, duplicate keys, non-finite numbers)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or len(parts[0]) > MAX_HEADER_SEGMENT:
        return None
    try:
        raw = b64url_decode(parts[0])
    except (ValueError, binascii.Error):
        return None
    if not raw.lstrip().startswith(b"{"):
        return None
    try:
        header = loads(raw, unique_keys=True)
    except JSONError as exc:
        text = str(exc)
        if text.startswith(("invalid JSON", "not UTF-8")):
            return None  # not JSON at all: not a JWT
        raise MalformedJWT(text) from None
    if not isinstance(header, dict):
        return None
    alg = header.get("alg")
    return header if isinstance(alg, str) and alg else None


def is_jwt_shaped(token: str) -> bool:
    """``token`` goes to the OIDC validator: a JWT header, or a JWT-shaped token whose header JSON is refused."""
    try:
        return jwt_header(token) is not None
    except MalformedJWT:
        return True
