"""CSRF protection for state-changing portal requests made with a session cookie.

A browser sends the session cookie on its own, so a request carrying it must also carry the session's
token: the form field ``csrf_token`` or the header ``X-CSRF-Token``. Requests authenticated by an
``X-API-Key`` or bearer header need no token (another site cannot make a browser add those headers).
``SameSite=Lax`` on the cookie is the second layer: browsers do not send it on cross-site POSTs.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_state_changing(request: Request) -> bool:
    return request.method not in SAFE_METHODS


async def presented_token(request: Request) -> str:
    """The token the request carries: the header first, else the form field of a form body."""
    header = request.headers.get(HEADER, "")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


def tokens_match(expected: str, presented: str) -> bool:
    return bool(expected) and bool(presented) and hmac.compare_digest(expected.encode(), presented.encode())
