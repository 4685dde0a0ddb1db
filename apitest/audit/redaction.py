"""Header and query maps for audit payloads, with credentials redacted by name.

The rule is the one ``/v1/headers`` uses (:func:`apitest.endpoints.helpers.is_redacted`): a header or
query-parameter name that contains any of ``audit.redact_keys`` (case-insensitive substring) has its
whole value list replaced by ``["[redacted]"]``. Bodies are never redacted.

Every string is also made storable: PostgreSQL TEXT and JSONB cannot hold NUL, which a client can send
as ``%00`` in a path or query, so NUL becomes U+FFFD.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

from apitest.endpoints.helpers import canonical_header_name, is_redacted

REDACTED = "[redacted]"
SKIPPED_REQUEST_HEADERS = frozenset({"Host", "Transfer-Encoding"})  # the original's header map has neither
NAME_CACHE_SIZE = 1024


def storable(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class Redactor:
    """Builds the redacted maps; ``keys`` are the configured ``audit.redact_keys``.

    Every request pays for this on its own path, so the verdict per name is cached (the set of header
    and parameter names a fixture sees is small; the cache is emptied if a client floods it).
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = [k.lower() for k in keys if k]
        self._headers: dict[bytes, tuple[str, bool]] = {}  # raw name -> (canonical name, redacted)
        self._params: dict[str, bool] = {}

    def redacts(self, name: str) -> bool:
        return is_redacted(name, self.keys)

    def _header_name(self, raw: bytes) -> tuple[str, bool]:
        found = self._headers.get(raw)
        if found is None:
            name = storable(canonical_header_name(raw.decode("latin-1")))
            found = (name, self.redacts(name))
            if len(self._headers) >= NAME_CACHE_SIZE:
                self._headers.clear()
            self._headers[raw] = found
        return found

    def _param_redacted(self, name: str) -> bool:
        found = self._params.get(name)
        if found is None:
            found = self.redacts(name)
            if len(self._params) >= NAME_CACHE_SIZE:
                self._params.clear()
            self._params[name] = found
        return found

    def headers(
        self, raw: Iterable[tuple[bytes, bytes]], skip: frozenset[str] = frozenset()
    ) -> dict[str, list[str]] | None:
        """ASGI header pairs as canonical name → values (arrival order), names sorted; ``None`` if empty."""
        out: dict[str, list[str]] = {}
        for raw_name, raw_value in raw:
            name, secret = self._header_name(raw_name)
            if name in skip:
                continue
            if secret:
                out[name] = [REDACTED]  # the value is never decoded or kept
                continue
            out.setdefault(name, []).append(storable(raw_value.decode("utf-8", "replace")))
        return dict(sorted(out.items())) if out else None

    def query(self, query_string: bytes) -> dict[str, list[str]] | None:
        """A raw query string as name → values (order kept), names sorted; ``None`` if empty."""
        if not query_string:
            return None
        out: dict[str, list[str]] = {}
        text = query_string.decode("utf-8", "replace")
        for key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
            name = storable(key)
            if self._param_redacted(name):
                out[name] = [REDACTED]
                continue
            out.setdefault(name, []).append(storable(value))
        return dict(sorted(out.items())) if out else None
