"""Header and query maps for audit payloads: credentials redacted, text made storable, size capped.

Redaction follows :class:`apitest.sensitive.Sensitive`, the rule the reflecting routes (``/v1/echo``,
``/v1/headers``) use: credential headers and parameters (``Authorization``, ``Cookie``, the configured key
header and query names, and any name containing one of ``audit.redact_keys``) have their whole value list
replaced by ``["[redacted]"]``; URL-valued headers (``Referer``, ``Location``...) keep the URL with its
credential parameters redacted. Bodies are never redacted.

Every string is made storable (:mod:`apitest.storable`): NUL and lone surrogates are escaped visibly as
``\\x00`` / ``\\ud800``, and bytes that are not UTF-8 are kept as ``\\xff`` escapes.

Header maps are capped: once the names and values kept reach ``cap`` bytes, further values are left out and
:attr:`HeaderMap.truncated` is set (the capture then flags the event), so a request carrying 800 KB of
headers costs at most ``audit.max_header_bytes`` in the buffer and the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from apitest.http import canonical_header_name
from apitest.sensitive import REDACTED, Sensitive
from apitest.storable import decode, storable

__all__ = ["REDACTED", "SKIPPED_REQUEST_HEADERS", "HeaderMap", "Redactor", "storable"]

SKIPPED_REQUEST_HEADERS = frozenset({"Host", "Transfer-Encoding"})  # shown elsewhere (host) or hop-by-hop
NAME_CACHE_SIZE = 1024
ENTRY_OVERHEAD = 4  # bytes counted per kept value besides the name and value (": ", CRLF)


@dataclass
class HeaderMap:
    values: dict[str, list[str]] | None
    truncated: bool = False  # values were left out at the cap
    size: int = 0  # bytes kept (names and values)


class Redactor:
    """Builds the redacted maps for one configuration.

    Every request pays for this on its own path, so the verdict per name is cached (the set of header
    and parameter names a fixture sees is small; the cache is emptied if a client floods it).
    """

    def __init__(self, sensitive: Sensitive) -> None:
        self.sensitive = sensitive
        self._headers: dict[bytes, tuple[str, bool, bool]] = {}  # raw name -> (canonical, redacted, url-valued)
        self._params: dict[str, bool] = {}

    def redacts(self, name: str) -> bool:
        return self.sensitive.header(name)

    def _header_name(self, raw: bytes) -> tuple[str, bool, bool]:
        found = self._headers.get(raw)
        if found is None:
            name = storable(canonical_header_name(raw.decode("latin-1")))
            found = (name, self.sensitive.header(name), self.sensitive.url_valued(name))
            if len(self._headers) >= NAME_CACHE_SIZE:
                self._headers.clear()
            self._headers[raw] = found
        return found

    def _param_redacted(self, name: str) -> bool:
        found = self._params.get(name)
        if found is None:
            found = self.sensitive.param(name)
            if len(self._params) >= NAME_CACHE_SIZE:
                self._params.clear()
            self._params[name] = found
        return found

    def header_map(
        self, raw: Iterable[tuple[bytes, bytes]], skip: frozenset[str] = frozenset(), cap: int | None = None
    ) -> HeaderMap:
        """ASGI header pairs as canonical name → values (arrival order), names sorted, at most ``cap`` bytes."""
        out: dict[str, list[str]] = {}
        size = 0
        truncated = False
        for raw_name, raw_value in raw:
            name, secret, url_valued = self._header_name(raw_name)
            if name in skip:
                continue
            if secret:
                if name not in out:
                    size += len(name) + len(REDACTED) + ENTRY_OVERHEAD
                out[name] = [REDACTED]  # the value is never decoded or kept
                continue
            cost = len(raw_name) + len(raw_value) + ENTRY_OVERHEAD
            if cap is not None and size + cost > cap:
                truncated = True
                continue
            size += cost
            value = decode(raw_value)
            out.setdefault(name, []).append(self.sensitive.url(value) if url_valued else value)
        return HeaderMap(dict(sorted(out.items())) if out else None, truncated, size)

    def headers(
        self, raw: Iterable[tuple[bytes, bytes]], skip: frozenset[str] = frozenset()
    ) -> dict[str, list[str]] | None:
        """:meth:`header_map` without a cap, as a plain map (``None`` if empty)."""
        return self.header_map(raw, skip).values

    def query(self, query_string: bytes, cap: int | None = None) -> dict[str, list[str]] | None:
        """A raw query string as name → values (order kept), names sorted; ``None`` if empty. Only the first
        ``cap`` bytes of the query string are read when ``cap`` is set."""
        if not query_string:
            return None
        if cap is not None and len(query_string) > cap:
            query_string = query_string[:cap]
        out: dict[str, list[str]] = {}
        text = decode(query_string)
        for key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="backslashreplace"):
            name = storable(key)
            if self._param_redacted(name):
                out[name] = [REDACTED]
                continue
            out.setdefault(name, []).append(storable(value))
        return dict(sorted(out.items())) if out else None
