"""The contract every authenticator follows, and the constant-time secret matching they share.

An authenticator looks at the credentials presented on the wire and answers in one of three ways:

- an :class:`~apitest.identity.Identity`: the credential is valid; the chain stops;
- ``None``: no credential of its kind was presented; the chain asks the next authenticator;
- :class:`Invalid`: a credential of its kind was presented and is bad; the chain stops with 401 and
  never falls through (not even to anonymous).

A failing backend (database down, identity provider unreachable) raises :class:`AuthBackendError`,
which the stage answers with 500 ``auth error``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from apitest.auth.credentials import Presented
from apitest.identity import Identity

T = TypeVar("T")


@dataclass(frozen=True)
class Invalid:
    """A presented credential that is not accepted."""

    description: str  # RFC 6750 error_description sent to the client: short, no quotes or backslashes
    detail: str = ""  # extra reason for the audit row and the log; never the credential itself

    @property
    def message(self) -> str:
        return f"{self.description} ({self.detail})" if self.detail else self.description


class AuthBackendError(Exception):
    """A backend the chain depends on failed; the request gets 500 ``auth error``."""


def describe(exc: BaseException) -> str:
    """An exception as one log-safe line: SQLAlchemy appends the statement and its parameters (a key
    digest) on later lines, which stay out of logs and audit rows."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


Result = Identity | Invalid | None


class Authenticator(Protocol):
    name: str

    async def authenticate(self, presented: Presented) -> Result: ...


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


class SecretTable(Generic[T]):
    """Secrets matched in constant time.

    Every entry is compared, with no early exit, and the comparison runs over SHA-256 digests so its
    time does not depend on how long the candidate or the secret is. Empty secrets (an unset
    ``${VAR}``) never match. When several entries match, the last one wins (a later entry overrides an earlier one).
    """

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        self._entries = [(_digest(secret), value) for secret, value in entries if secret]

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, candidate: str) -> T | None:
        wanted = _digest(candidate)
        found: T | None = None
        for digest, value in self._entries:
            if hmac.compare_digest(digest, wanted):
                found = value
        return found
