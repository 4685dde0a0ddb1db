"""Geometry for the dashboard's server-rendered SVG charts.

The templates draw what these functions compute (rectangles, axis ticks and labels as attributes), so
the charts need no script and no inline style, and every label goes through autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 44
PAD_BOTTOM = 22
PAD_TOP = 8


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    css: str  # ok | err | s1 ... s5
    title: str  # tooltip, e.g. "10:42 UTC: 12 requests, 1 error"
    err_y: float = 0.0
    err_h: float = 0.0
    query: dict[str, str] = field(default_factory=dict)  # the audit list filters of this bar (drill-down)


@dataclass
class Tick:
    pos: float
    label: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    label: str = ""  # accessible summary
    empty: bool = True

    @property
    def plot_bottom(self) -> float:
        return self.height - PAD_BOTTOM


def nice_step(value: int, intervals: int = 5) -> int:
    """The smallest 1, 2 or 5 × 10^n step that covers ``value`` in at most ``intervals`` gridlines."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale * intervals >= value:
                return step * scale
        scale *= 10


def nice_max(value: int) -> int:
    """A round axis maximum at or above ``value``: the next multiple of :func:`nice_step` (5,300 → 6,000)."""
    if value <= 0:
        return 1
    step = nice_step(value)
    return -(-value // step) * step


def _y_ticks(top: int, plot_h: float) -> list[Tick]:
    """Gridlines at multiples of the axis step, labelled with thousands separators (``2,000``)."""
    step = nice_step(top)
    steps = max(1, top // step)
    return [Tick(PAD_TOP + plot_h - plot_h * i / steps, f"{step * i:,}") for i in range(steps + 1)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def caller_query(key: str) -> dict[str, str]:
    """The audit filter behind a "top callers" key (the ``user`` breakdown's spelling)."""
    if key == "(anonymous)":
        return {"auth_type": "anonymous"}
    return {"caller": key.removeprefix("key:")}


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def requests_chart(series: dict[str, Any]) -> Chart:
    """Requests per bucket (errors stacked in red) over the window, empty buckets included. ``series`` is the
    timeseries JSON: ``{from, to, bucket_seconds, buckets: [{time, count, errors, avg_duration_ms}]}``."""
    since, until, bucket_seconds = parse_iso(series["from"]), parse_iso(series["to"]), int(series["bucket_seconds"])
    slots = max(1, min(240, int((until - since).total_seconds() // bucket_seconds) + 1))
    start = until - timedelta(seconds=bucket_seconds * slots)
    by_slot: dict[int, dict[str, Any]] = {}
    for b in series["buckets"]:
        index = int((parse_iso(b["time"]) - start).total_seconds() // bucket_seconds)
        if 0 <= index < slots:
            by_slot[index] = b
    peak = nice_max(max((b["count"] for b in by_slot.values()), default=0))
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / slots
    chart = Chart(WIDTH, HEIGHT, y_ticks=_y_ticks(peak, plot_h))
    total = 0
    for i in range(slots):
        b = by_slot.get(i)
        if b is None or b["count"] == 0:
            continue
        total += b["count"]
        h = plot_h * b["count"] / peak
        x = PAD_LEFT + i * step + step * 0.1
        y = PAD_TOP + plot_h - h
        err_h = plot_h * b["errors"] / peak
        when = (start + timedelta(seconds=i * bucket_seconds)).strftime("%H:%M")
        title = (
            f"{when} UTC: {_plural(b['count'], 'request')}, {_plural(b['errors'], 'error')}, "
            f"avg {b['avg_duration_ms']:g} ms"
        )
        begin = parse_iso(b["time"])  # the bucket the store counted, so the list shows exactly these rows
        end = begin + timedelta(seconds=bucket_seconds) - timedelta(milliseconds=1)
        drill = {"from": _iso(begin), "to": _iso(end)}
        bar = Bar(x, y, max(1.0, step * 0.8), h, "ok", title, PAD_TOP + plot_h - err_h, err_h, drill)
        chart.bars.append(bar)
    for i in range(0, slots, max(1, slots // 6)):
        if PAD_LEFT + i * step > WIDTH - 40:
            break  # a label this close to the edge would be cut off
        tick = start + timedelta(seconds=i * bucket_seconds)
        label = tick.strftime("%H:%M" if slots * bucket_seconds <= 86400 else "%m-%d")
        chart.x_ticks.append(Tick(PAD_LEFT + i * step, label))
    chart.empty = total == 0
    per = f"{bucket_seconds // 60} min" if bucket_seconds >= 60 else f"{bucket_seconds} s"
    chart.label = f"Requests per {per}: {_plural(total, 'request')} in the window"
    return chart


STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def status_histogram(groups: list[dict[str, Any]]) -> Chart:
    """One bar per status class, 1xx to 5xx (``groups``: the status_class breakdown JSON)."""
    counts = {str(g["key"]): int(g["count"]) for g in groups}
    peak = nice_max(max((counts.get(k, 0) for k in STATUS_CLASSES), default=0))
    width, height = 360, 150
    plot_w = width - PAD_LEFT
    plot_h = height - PAD_BOTTOM - PAD_TOP
    step = plot_w / len(STATUS_CLASSES)
    chart = Chart(width, height, y_ticks=_y_ticks(peak, plot_h))
    for i, key in enumerate(STATUS_CLASSES):
        count = counts.get(key, 0)
        h = plot_h * count / peak
        x = PAD_LEFT + i * step + step * 0.2
        chart.x_ticks.append(Tick(PAD_LEFT + i * step + step / 2, key))
        if count:
            bar = Bar(x, PAD_TOP + plot_h - h, step * 0.6, h, f"s{key[0]}", f"{key}: {count}", query={"status": key})
            chart.bars.append(bar)
    chart.empty = not any(counts.get(k, 0) for k in STATUS_CLASSES)
    chart.label = "Responses by status class: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in STATUS_CLASSES)
    return chart


def bucket_seconds_for(window: timedelta) -> int:
    """About 60 buckets across the window, at a round size."""
    seconds = window.total_seconds()
    for size in (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400):
        if seconds / size <= 72:
            return size
    return 86400
