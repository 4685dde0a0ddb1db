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


def storable(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class Redactor:
    """Builds the redacted maps; ``keys`` are the configured ``audit.redact_keys``."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = [k.lower() for k in keys if k]

    def redacts(self, name: str) -> bool:
        return is_redacted(name, self.keys)

    def headers(
        self, raw: Iterable[tuple[bytes, bytes]], skip: frozenset[str] = frozenset()
    ) -> dict[str, list[str]] | None:
        """ASGI header pairs as canonical name → values (arrival order), names sorted; ``None`` if empty."""
        out: dict[str, list[str]] = {}
        for raw_name, raw_value in raw:
            name = canonical_header_name(raw_name.decode("latin-1"))
            if name in skip:
                continue
            out.setdefault(storable(name), []).append(storable(raw_value.decode("utf-8", "replace")))
        return self._finish(out)

    def query(self, query_string: bytes) -> dict[str, list[str]] | None:
        """A raw query string as name → values (order kept), names sorted; ``None`` if empty."""
        out: dict[str, list[str]] = {}
        text = query_string.decode("utf-8", "replace")
        for key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
            out.setdefault(storable(key), []).append(storable(value))
        return self._finish(out)

    def _finish(self, out: dict[str, list[str]]) -> dict[str, list[str]] | None:
        if not out:
            return None
        for name in out:
            if self.redacts(name):
                out[name] = [REDACTED]
        return dict(sorted(out.items()))
