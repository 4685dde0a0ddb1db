from __future__ import annotations

from datetime import timedelta

import pytest

from apitest.portal.charts import bucket_seconds_for, nice_max, requests_chart, status_histogram


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 1), (1, 1), (3, 3), (7, 8), (11, 15), (120, 150), (5000, 5000), (5300, 6000)]
)
def test_nice_max(value: int, expected: int) -> None:
    assert nice_max(value) == expected


def test_requests_chart_places_buckets_and_stacks_errors() -> None:
    series = {
        "from": "2026-11-21T10:00:00.000Z",
        "to": "2026-11-21T11:00:00.000Z",
        "bucket_seconds": 60,
        "buckets": [
            {"time": "2026-11-21T10:30:00.000Z", "count": 10, "errors": 5, "avg_duration_ms": 3.5},
            {"time": "2026-11-21T10:59:00.000Z", "count": 4, "errors": 0, "avg_duration_ms": 1.0},
        ],
    }
    chart = requests_chart(series)
    assert not chart.empty
    assert len(chart.bars) == 2
    tall, short = chart.bars
    assert tall.h == pytest.approx(short.h * 10 / 4)
    assert tall.err_h == pytest.approx(tall.h / 2)
    assert tall.x < short.x
    assert "10:30 UTC: 10 requests, 5 errors" in tall.title
    assert chart.label == "Requests per 1 min: 14 requests in the window"


def test_empty_chart() -> None:
    chart = requests_chart(
        {"from": "2026-11-21T10:00:00Z", "to": "2026-11-21T11:00:00Z", "bucket_seconds": 60, "buckets": []}
    )
    assert chart.empty and chart.bars == []


def test_status_histogram_has_a_tick_per_class() -> None:
    chart = status_histogram([{"key": "2xx", "count": 8}, {"key": "5xx", "count": 2}])
    assert [t.label for t in chart.x_ticks] == ["1xx", "2xx", "3xx", "4xx", "5xx"]
    assert [b.css for b in chart.bars] == ["s2", "s5"]
    assert chart.label.endswith("2xx 8, 3xx 0, 4xx 0, 5xx 2")


@pytest.mark.parametrize(
    ("window", "size"), [(timedelta(minutes=5), 10), (timedelta(hours=1), 60), (timedelta(days=7), 21600)]
)
def test_bucket_size(window: timedelta, size: int) -> None:
    assert bucket_seconds_for(window) == size


@pytest.mark.parametrize(
    ("peak", "labels"),
    [
        (1, ["0", "1"]),
        (2, ["0", "1", "2"]),
        (50, ["0", "10", "20", "30", "40", "50"]),
        (200, ["0", "50", "100", "150", "200"]),
        (5300, ["0", "2,000", "4,000", "6,000"]),
        (23_000, ["0", "5,000", "10,000", "15,000", "20,000", "25,000"]),
    ],
)
def test_gridlines_are_whole_numbers(peak: int, labels: list[str]) -> None:
    chart = status_histogram([{"key": "2xx", "count": peak}])
    assert [t.label for t in chart.y_ticks] == labels
