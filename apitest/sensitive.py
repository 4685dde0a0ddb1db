"""Which header and query values are credentials, and how to redact them wherever they are reflected or stored.

Redacted whatever ``audit.redact_keys`` says (exact names, case-insensitive):

- headers ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie`` and the configured
  ``api_keys.header_name``;
- query parameters named ``api_keys.query_param_name`` or ``access_token`` (RFC 6750 §2.3);

plus any header or parameter whose name contains one of ``audit.redact_keys`` (case-insensitive substring).
URL-valued headers (``Referer``, ``Origin``, ``Location``, ``Content-Location``) keep their URL but have the
password of their user info and the values of credential parameters in their query and fragment replaced, so
``Referer: https://app/?api_key=...`` is stored as ``https://app/?api_key=[redacted]``.

The audit capture (:mod:`apitest.audit.redaction`) and every route that reflects the request (``/v1/echo``,
``/v1/method/echo``, ``/v1/headers``) use the same :class:`Sensitive`, so a captured response body holds no
credential the capture of the request itself would have redacted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from urllib.parse import unquote

REDACTED = "[redacted]"
ALWAYS_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
ALWAYS_PARAMS = frozenset({"access_token"})
URL_HEADERS = frozenset({"referer", "origin", "location", "content-location"})


class Sensitive:
    """The credential names of one configuration; ``words`` are ``audit.redact_keys``."""

    def __init__(self, words: Iterable[str], *, header_name: str = "", query_name: str = "") -> None:
        self.words = tuple(w.lower() for w in words if w)
        self.headers = ALWAYS_HEADERS | ({header_name.lower()} if header_name else set())
        self.params = ALWAYS_PARAMS | ({query_name.lower()} if query_name else set())

    def _contains_word(self, lowered: str) -> bool:
        return any(word in lowered for word in self.words)

    def header(self, name: str) -> bool:
        """``name`` is a credential header: its whole value is replaced."""
        lowered = name.lower()
        return lowered in self.headers or self._contains_word(lowered)

    def param(self, name: str) -> bool:
        """``name`` is a credential query (or fragment) parameter."""
        lowered = name.lower()
        return lowered in self.params or lowered in self.headers or self._contains_word(lowered)

    @staticmethod
    def url_valued(name: str) -> bool:
        return name.lower() in URL_HEADERS

    def name(self, name: str) -> bool:
        """``name`` (a header or a query parameter) carries a credential: for places that hold both kinds."""
        return self.param(name)

    def value(self, name: str, value: str) -> str:
        """A header's value with credentials inside a URL-valued header (``Referer``...) redacted."""
        return self.url(value) if self.url_valued(name) else value

    def _pairs(self, text: str) -> str:
        out = []
        for piece in text.split("&"):
            name, eq, _ = piece.partition("=")
            if eq and self.param(unquote(name.replace("+", " "))):
                piece = f"{name}={REDACTED}"
            out.append(piece)
        return "&".join(out)

    def url(self, value: str) -> str:
        """``value`` (a URL or a bare query string) with user-info passwords and credential parameters redacted;
        returned unchanged (the same object) when there is nothing to redact."""
        if "=" not in value and "@" not in value:
            return value
        rest, hash_, fragment = value.partition("#")
        head, question, query = rest.partition("?")
        scheme, sep, after = head.partition("://")
        if sep:
            authority, slash, path = after.partition("/")
            userinfo, at, host = authority.rpartition("@")
            if at and ":" in userinfo:
                user = userinfo.split(":", 1)[0]
                head = f"{scheme}://{user}:{REDACTED}@{host}{slash}{path}"
        if question:
            query = self._pairs(query)
        if hash_ and "=" in fragment:
            fragment = self._pairs(fragment)
        return head + question + query + hash_ + fragment

    def header_value(self, name: str, value: str) -> str:
        """One header value as it may be shown or stored (``name`` of any case)."""
        if self.header(name):
            return REDACTED
        return self.url(value) if self.url_valued(name) else value


@functools.lru_cache(maxsize=16)
def _cached(words: tuple[str, ...], header_name: str, query_name: str) -> Sensitive:
    return Sensitive(words, header_name=header_name, query_name=query_name)


def sensitive_for(redact_keys: Iterable[str], header_name: str, query_name: str) -> Sensitive:
    """The (cached) :class:`Sensitive` of one configuration."""
    return _cached(tuple(redact_keys), header_name, query_name)
