"""Is a bearer token a JWT? Only JWT-shaped tokens go to the OIDC validator; others (``abc123``) fall
through to the static bearer tokens.

JWT-shaped means exactly three dot-separated segments whose first one decodes (base64url, padding
optional) to a JSON object with a non-empty string ``alg``. Nothing here is trusted: it only routes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

MAX_HEADER_SEGMENT = 8192
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_decode(segment: str) -> bytes:
    """Strict base64url: the URL-safe alphabet only, padding optional."""
    if not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    stripped = segment.rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def jwt_header(token: str) -> dict[str, Any] | None:
    """The decoded JOSE header of a JWT-shaped token, else ``None``."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or len(parts[0]) > MAX_HEADER_SEGMENT:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    alg = header.get("alg")
    return header if isinstance(alg, str) and alg else None
