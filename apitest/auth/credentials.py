"""Read the credentials a request presents on the wire, once, for every authenticator.

- API key: the configured header (trimmed); when that is empty, the configured query parameter
  (trimmed). The header wins even when the query value would be the valid one.
- Bearer: ``Authorization`` starting with ``Bearer `` (case-insensitive, with its space); the token is
  trimmed. Any other non-empty ``Authorization`` value (``Basic ...``, ``Digest ...``, a bare token, or
  ``Bearer`` with no token) is **no credential**: nginx ``auth_basic`` forwards the
  client's ``Basic`` header, and the request must then be anonymous (when allowed) or the "missing
  credential" 401. The scheme is kept as ``ignored_scheme`` so the audit row can say it was ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import QueryParams
from starlette.types import Scope

BEARER_PREFIX = "bearer "


@dataclass(frozen=True)
class Presented:
    api_key: str = ""
    api_key_source: str = ""  # "header" | "query" | ""
    bearer: str = ""
    ignored_scheme: str = ""  # an Authorization scheme that is no credential here ("Bearer" when the token is empty)

    @property
    def any(self) -> bool:
        """Whether a usable credential was presented on the wire (an ignored Authorization scheme is none)."""
        return bool(self.api_key or self.bearer)

    def absence_reason(self) -> str:
        if self.ignored_scheme:
            return f"no credential presented (Authorization scheme {self.ignored_scheme!r} ignored)"
        return "no credential presented"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def parse_authorization(value: str | None) -> tuple[str, str]:
    """``(bearer_token, ignored_scheme)`` from an ``Authorization`` value."""
    if value is None:
        return "", ""
    if value[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
        token = value[len(BEARER_PREFIX) :].strip()
        return (token, "") if token else ("", "Bearer")
    scheme = value.strip().split(" ", 1)[0]
    if not scheme:
        return "", ""
    return "", "Bearer" if scheme.lower() == "bearer" else scheme[:32]


def read_credentials(scope: Scope, *, header_name: str, query_name: str, read_query: bool = True) -> Presented:
    api_key = (_header(scope, header_name.lower().encode("latin-1")) or "").strip()
    source = "header" if api_key else ""
    if not api_key and read_query and query_name:
        api_key = QueryParams(scope.get("query_string", b"")).get(query_name, "").strip()
        source = "query" if api_key else ""
    bearer, ignored = parse_authorization(_header(scope, b"authorization"))
    return Presented(api_key=api_key, api_key_source=source, bearer=bearer, ignored_scheme=ignored)
