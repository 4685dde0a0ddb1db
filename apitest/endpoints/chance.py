"""The seeded choices of the failure group: flaky's rate, weighted status specs (``200:0.8,503:0.2``) and
the latency distributions of ``/v1/slow``. Pure parsing and drawing; the handlers are in ``failure.py``.

Every draw comes from :func:`apitest.endpoints.seeded.call_rng`, so ``seed`` + ``call_id`` repeat a
choice exactly and an empty seed is random.

References: Go ``strconv.ParseFloat`` syntax; Box-Muller transform for the normal variate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

from starlette.requests import Request

from apitest.endpoints.helpers import non_negative_bounded, positive_bounded, query
from apitest.endpoints.seeded import PCG
from apitest.http import ParamError, parse_int

SLOW_MAX_MS = 60000
SIGMA_DEFAULT = 0.5
SIGMA_MAX = 4.0
STATUS_MIN, STATUS_MAX = 200, 599
DIST_PARAMS: dict[str, tuple[str, ...]] = {"uniform": ("min_ms", "max_ms"), "lognormal": ("median_ms", "sigma")}

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_GO_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")


def parse_decimal(text: str) -> float | None:
    """A plain decimal number (``0.8``, ``.5``, ``2e-1``), finite; ``None`` otherwise."""
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` syntax: decimal, ``inf``/``infinity``/``nan``, hex floats with ``p``.

    Unlike Python's ``float()``: no surrounding whitespace and no underscores.
    """
    if _DECIMAL.fullmatch(text) or _GO_SPECIAL.fullmatch(text):
        return float(text)
    if _GO_HEX.fullmatch(text):
        return float.fromhex(text)
    return None


def flaky_rate(text: str) -> float:
    """``fail_rate`` clamped into [0, 1]; unparsable or NaN → 0."""
    rate = parse_go_float(text)
    if rate is None or math.isnan(rate):
        return 0.0
    return min(1.0, max(0.0, rate))


# --- weighted status ---------------------------------------------------------------------------


def is_status_spec(text: str) -> bool:
    """A weighted spec has a ``,`` or ``:``; anything else is a single status code."""
    return "," in text or ":" in text


def parse_status_spec(spec: str) -> list[tuple[int, float]]:
    """``200:0.8,503:0.2`` → ``[(200, 0.8), (503, 0.2)]``; an entry without ``:weight`` weighs 1."""
    entries: list[tuple[int, float]] = []
    seen: set[int] = set()
    for entry in spec.split(","):
        if entry == "":
            raise ParamError(f'status spec "{spec}" has an empty entry')
        code_text, sep, weight_text = entry.partition(":")
        code = parse_int(code_text)
        if code is None or not STATUS_MIN <= code <= STATUS_MAX:
            raise ParamError(f'status spec entry "{entry}": code must be an integer in [200, 599]')
        weight = parse_decimal(weight_text) if sep else 1.0
        if weight is None or weight <= 0:
            raise ParamError(f'status spec entry "{entry}": weight must be a positive finite number')
        if code in seen:
            raise ParamError(f"status spec lists code {code} more than once")
        seen.add(code)
        entries.append((code, weight))
    if math.isinf(sum(w for _, w in entries)):
        raise ParamError(f'status spec "{spec}": the weights add up to infinity')
    return entries


def choose_status(entries: list[tuple[int, float]], roll: float) -> int:
    """The entry whose cumulative weight band contains ``roll`` (in [0, 1)) scaled to the total weight."""
    target = roll * sum(w for _, w in entries)
    cumulative = 0.0
    for code, weight in entries:
        cumulative += weight
        if target < cumulative:
            return code
    return entries[-1][0]  # float rounding at the very top of the range


# --- latency distributions --------------------------------------------------------------------


@dataclass(frozen=True)
class Uniform:
    min_ms: int
    max_ms: int
    name: ClassVar[str] = "uniform"

    def draw(self, rng: PCG) -> int:
        """An integer in [min_ms, max_ms], both ends included."""
        return self.min_ms + rng.int_n(self.max_ms - self.min_ms + 1)


@dataclass(frozen=True)
class LogNormal:
    median_ms: int
    sigma: float
    name: ClassVar[str] = "lognormal"

    def draw(self, rng: PCG) -> int:
        """``median · e^(sigma·Z)`` rounded to whole ms, Z standard normal (Box-Muller, two Float64 draws)."""
        u1, u2 = rng.float64(), rng.float64()
        z = math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2.0 * math.pi * u2)
        return round(self.median_ms * math.exp(self.sigma * z))


Distribution = Uniform | LogNormal


def parse_distribution(request: Request) -> Distribution | None:
    """The ``dist`` of ``/v1/slow`` and its parameters, or ``None`` for the plain ``ms`` form."""
    dist = query(request, "dist")
    if dist != "" and dist not in DIST_PARAMS:
        raise ParamError("dist must be uniform or lognormal")
    for name, params in DIST_PARAMS.items():
        for param in params:
            if dist != name and query(request, param) != "":
                raise ParamError(f"{param} needs dist={name}")
    if dist == "":
        return None
    if query(request, "ms") != "":
        raise ParamError("ms cannot be combined with dist")
    if dist == "uniform":
        low = non_negative_bounded(request, "min_ms", 0, SLOW_MAX_MS)
        if query(request, "max_ms") == "":
            raise ParamError("max_ms is required with dist=uniform")
        high = non_negative_bounded(request, "max_ms", 0, SLOW_MAX_MS)
        if low > high:
            raise ParamError(f"min_ms {low} is greater than max_ms {high}")
        return Uniform(low, high)
    if query(request, "median_ms") == "":
        raise ParamError("median_ms is required with dist=lognormal")
    median = positive_bounded(request, "median_ms", 1, SLOW_MAX_MS)
    sigma_text = query(request, "sigma")
    sigma = SIGMA_DEFAULT if sigma_text == "" else parse_decimal(sigma_text)
    if sigma is None or not 0 <= sigma <= SIGMA_MAX:
        raise ParamError("sigma must be a number in [0, 4]")
    return LogNormal(median, sigma)
