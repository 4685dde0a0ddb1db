"""The key store's memory: verified digests, unknown digests, and how fresh both are.

Authenticating a database key must cost about what a file key costs, so the request path reads this cache
and not the database. What keeps it honest:

- **Freshness.** The cache is trusted for ``window`` seconds (1 s) after a check of the table's
  *fingerprint*: ``count(*)``, ``count(revoked_at)``, ``max(created_at)`` and ``max(revoked_at)`` of
  ``api_keys``, one aggregate over a small table. Keys are only ever created and revoked (rows are never
  updated otherwise, nor deleted by apitest), so any create or revoke on any worker changes it. When it
  changed, every cached entry is re-read in one query and the unknown-digest memory is emptied. A
  background task checks every half window; a request that finds the cache older than the window checks
  inline (one query, shared by the requests waiting for it), so the 1 s bound holds even when the task
  lags. On PostgreSQL a ``LISTEN`` connection hears ``NOTIFY apitest_api_keys`` from every worker's create
  and revoke and marks the cache stale at once (reconnected by the same task when it drops).
- **Generations.** A lookup that started before a change was noticed may not store what it read: each
  noticed change bumps :attr:`KeyCache.generation`, and an entry read under an older one is not kept.
- **Expiry** needs no query: each entry keeps ``expires_at``, compared with the clock on every request.
- **Unknown keys** cannot flood the database: a digest found nowhere is remembered (up to
  :data:`NEGATIVE_SIZE`, oldest forgotten first), and lookups of digests not yet seen run at most
  :data:`LOOKUP_CONCURRENCY` at a time per worker, one per digest however many requests present it.
- **Constant time.** A cached entry is confirmed with :func:`hmac.compare_digest` against the presented
  digest (the dict lookup itself compares hashes of digests an attacker cannot choose).

Hand-written rather than a TTL cache library: invalidation is by the fingerprint and generations above,
which no generic cache models.
"""

from __future__ import annotations

import hmac
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apitest.identity import Identity

WINDOW_SECONDS = 1.0
NEGATIVE_SIZE = 10_000
LOOKUP_CONCURRENCY = 4
NOTIFY_CHANNEL = "apitest_api_keys"

Fingerprint = tuple[Any, ...]


@dataclass(frozen=True)
class CachedKey:
    """What authenticating needs of one stored key, and the identity it yields (built once)."""

    digest: str
    key_id: str
    name: str
    prefix: str
    expires_at: datetime | None
    revoked_at: datetime | None
    identity: Identity

    def label(self) -> str:
        """How a refusal names the key (built only when one is refused)."""
        return f"database key {self.prefix}… ({self.name!r})"


class KeyCache:
    """Verified digests (digest -> :class:`CachedKey`) and unknown digests, trusted until :attr:`fresh_until`."""

    def __init__(
        self,
        *,
        window: float = WINDOW_SECONDS,
        monotonic: Callable[[], float],
        negative_size: int = NEGATIVE_SIZE,
    ) -> None:
        self.window = window
        self.monotonic = monotonic
        self.negative_size = max(0, negative_size)
        self.known: dict[str, CachedKey] = {}
        self.unknown: OrderedDict[str, None] = OrderedDict()
        self.fresh_until = -math.inf
        self.fingerprint: Fingerprint | None = None
        self.generation = 0

    def is_fresh(self) -> bool:
        return self.monotonic() < self.fresh_until

    def mark_stale(self) -> None:
        self.fresh_until = -math.inf

    def get(self, digest: str) -> CachedKey | None:
        entry = self.known.get(digest)
        if entry is not None and hmac.compare_digest(entry.digest, digest):
            return entry
        return None

    def is_unknown(self, digest: str) -> bool:
        return digest in self.unknown

    def store(self, digest: str, entry: CachedKey | None, generation: int) -> None:
        """Keep what a lookup found (``None``: nothing), unless a change was noticed since it started."""
        if generation != self.generation:
            return
        if entry is not None:
            self.known[digest] = entry
            self.unknown.pop(digest, None)
        elif self.negative_size:
            self.unknown[digest] = None
            while len(self.unknown) > self.negative_size:
                self.unknown.popitem(last=False)

    def checked(self, started: float, fingerprint: Fingerprint) -> bool:
        """Record a fingerprint read that began at ``started``; ``True`` when it differs from the last one."""
        changed = self.fingerprint is not None and fingerprint != self.fingerprint
        if changed or self.fingerprint is None:
            self.generation += 1
            self.unknown.clear()
        self.fingerprint = fingerprint
        self.fresh_until = started + self.window
        return changed

    def replace(self, entries: dict[str, CachedKey]) -> None:
        """The cached digests re-read after a change (those no longer stored are gone)."""
        self.known = entries

    def forget_name(self, name: str) -> None:
        self.known = {d: e for d, e in self.known.items() if e.name != name}


class UsageBatch:
    """When each key was last used on this worker since the last write (key id -> time)."""

    def __init__(self) -> None:
        self.pending: dict[str, datetime] = {}

    def mark(self, key_id: str, when: datetime) -> None:
        self.pending[key_id] = when

    def take(self) -> dict[str, datetime]:
        pending, self.pending = self.pending, {}
        return pending
