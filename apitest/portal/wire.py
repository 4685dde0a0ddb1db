"""The event page's "Wire" section: the request as it arrived, the credential evidence and the chunk timeline.

:func:`wire_view` turns the wire fields of one serialised event into what ``templates/_wire.html`` draws:
fingerprints by where the credential was (so a ``[redacted]`` header or query value shows its fingerprint
next to it) and the chunk timeline as SVG geometry (no script, no inline style; labels autoescaped).
"""

from __future__ import annotations

from typing import Any

from apitest.portal.charts import PAD_BOTTOM, PAD_LEFT, PAD_TOP, Bar, Chart, Tick

WIDTH = 720
HEIGHT = 90
RIGHT = 12


def fingerprints(credentials: list[dict[str, Any]] | None) -> dict[str, str]:
    """``"header:<name lowercased>"`` / ``"query:<name>"`` → the fingerprint of the credential found there."""
    out: dict[str, str] = {}
    for c in credentials or ():
        if not isinstance(c, dict) or not isinstance(c.get("fingerprint"), str):
            continue
        name = str(c.get("name", ""))
        key = f"header:{name.lower()}" if c.get("source") == "header" else f"query:{name}"
        out.setdefault(key, c["fingerprint"])
    return out


def ms_label(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def chunk_timeline(offsets: list[float] | None, duration_ms: float, ttfb_ms: float | None) -> Chart | None:
    """One thin bar per body chunk at its send offset, on an axis from the request start to its end."""
    if not offsets:
        return None
    end = max(duration_ms, offsets[-1], ttfb_ms or 0.0, 1.0)
    plot = WIDTH - PAD_LEFT - RIGHT
    chart = Chart(WIDTH, HEIGHT, empty=False)
    chart.label = f"{len(offsets)} chunks sent between {ms_label(offsets[0])} and {ms_label(offsets[-1])}"
    height = HEIGHT - PAD_BOTTOM - PAD_TOP
    if ttfb_ms is not None:
        x = PAD_LEFT + ttfb_ms / end * plot
        chart.bars.append(Bar(x, PAD_TOP, 1.5, height, "err", f"response head sent at {ms_label(ttfb_ms)}"))
    for i, offset in enumerate(offsets):
        x = PAD_LEFT + offset / end * plot
        chart.bars.append(Bar(x, PAD_TOP, 2.0, height, "ok", f"chunk {i} sent at {ms_label(offset)}"))
    chart.x_ticks = [Tick(PAD_LEFT + f * plot, ms_label(end * f)) for f in (0.0, 0.25, 0.5, 0.75)]
    return chart


def wire_view(event: dict[str, Any]) -> dict[str, Any]:
    offsets = event.get("chunk_offsets")
    return {
        "fingerprints": fingerprints(event.get("credentials")),
        "timeline": chunk_timeline(
            offsets if isinstance(offsets, list) else None,
            float(event.get("duration_ms") or 0),
            event.get("ttfb_ms"),
        ),
    }
