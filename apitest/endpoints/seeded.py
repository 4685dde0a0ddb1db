"""Deterministic primitives, bit-exact with Go's, so seeded answers match Go fixtures: FNV-1a 64, Go's
PCG-DXSM source (``math/rand/v2``), ``IntN`` and ``Float64``, and the SHA-256 derivations.

References: Go ``math/rand/v2`` (pcg.go, rand.go); FNV-1a (draft-eastlake-fnv).
"""

from __future__ import annotations

import hashlib
import secrets

MASK64 = (1 << 64) - 1
MASK128 = (1 << 128) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_PCG_MUL = (2549297995355413924 << 64) | 4865540595714422341
_PCG_INC = (6364136223846793005 << 64) | 1442695040888963407
_DXSM_MUL = 0xDA942042E4DD58B5

NATO = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()

LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea "
    "commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur "
    "excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum"
).split()


def fnv1a64(text: str) -> int:
    h = _FNV_OFFSET
    for byte in text.encode():
        h = ((h ^ byte) * _FNV_PRIME) & MASK64
    return h


class PCG:
    """Go's ``rand.NewPCG(seed1, seed2)`` with the DXSM output function."""

    __slots__ = ("state",)

    def __init__(self, seed1: int, seed2: int) -> None:
        self.state = ((seed1 & MASK64) << 64) | (seed2 & MASK64)

    @classmethod
    def random(cls) -> PCG:
        return cls(secrets.randbits(64), secrets.randbits(64))

    def uint64(self) -> int:
        self.state = (self.state * _PCG_MUL + _PCG_INC) & MASK128
        hi, lo = self.state >> 64, self.state & MASK64
        hi ^= hi >> 32
        hi = (hi * _DXSM_MUL) & MASK64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & MASK64

    def int_n(self, n: int) -> int:
        """Uniform in ``[0, n)``, Lemire's method exactly as Go's ``Rand.IntN`` / ``uint64n``."""
        if n <= 0:
            raise ValueError("n must be positive")
        if n & (n - 1) == 0:
            return self.uint64() & (n - 1)
        product = self.uint64() * n
        hi, lo = product >> 64, product & MASK64
        if lo < n:
            thresh = ((1 << 64) - n) % n
            while lo < thresh:
                product = self.uint64() * n
                hi, lo = product >> 64, product & MASK64
        return hi

    def float64(self) -> float:
        return (self.uint64() & ((1 << 53) - 1)) / (1 << 53)


def seeded_pcg(seed: str, salt_prefix: str = "salt:") -> PCG:
    return PCG(fnv1a64(seed), fnv1a64(salt_prefix + seed))


def stream_word(seed: str, index: int) -> str:
    """The NATO word of streaming item ``index``; independent of the item count."""
    h = fnv1a64(f"{seed}:{index}")
    return NATO[PCG(h, h >> 1).int_n(len(NATO))]


def lorem_sentence(words: int, seed: str) -> str:
    rng = seeded_pcg(seed) if seed else PCG.random()
    chosen = [LOREM[rng.int_n(len(LOREM))] for _ in range(words)]
    if chosen:
        chosen[0] = chosen[0][:1].upper() + chosen[0][1:]
    return " ".join(chosen) + "."


def call_rng(seed: str, call_id: int) -> PCG:
    """The generator of one call of flaky, weighted status and latency distributions.

    Seeded with ``(FNV1a64(seed|call_id), FNV1a64(salt|seed|call_id))``; OS-random when ``seed`` is empty.
    """
    if not seed:
        return PCG.random()
    key = f"{seed}|{call_id}"
    return PCG(fnv1a64(key), fnv1a64("salt|" + key))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def item_value(item_id: int) -> str:
    """Pagination data set value: first 8 bytes of sha256(decimal id), hex."""
    return sha256_hex(str(item_id))[:16]


def export_value(seed: str, index: int) -> str:
    return sha256_hex(f"{seed}:{index}")[:16]


def pcg_bytes(rng: PCG, n: int) -> bytes:
    """``n`` bytes from ``rng``: each ``uint64`` gives 8 bytes, little-endian, the last one cut short."""
    words = -(-n // 8)
    return b"".join(rng.uint64().to_bytes(8, "little") for _ in range(words))[:n]


def seeded_rng(seed: str) -> PCG:
    """The generator of a ``seed`` query parameter: FNV-1a seeded, OS-random when ``seed`` is empty."""
    return seeded_pcg(seed) if seed else PCG.random()
