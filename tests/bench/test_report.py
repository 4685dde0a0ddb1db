"""The results table: skipped and informational rows, and the side-by-side table of the run's servers."""

from __future__ import annotations

from bench import report
from bench.scenario import Measure, Outcome, failed, skipped


def measured(name: str, subject: float, baseline: float, op: str = ">=") -> Outcome:
    return Outcome(name, name, Measure("a", subject, "req/s"), Measure("b", baseline, "req/s"), "a / b", op, 0.8)


def test_rows_say_skipped_info_pass_fail_and_error() -> None:
    rows = report.rows(
        [
            measured("healthz", 90, 100),
            measured("overhead", 10, 100),
            measured("peer-go-echo", 10, 100, "info"),
            skipped("peer-go-get", "go", "go-httpbin not found"),
            failed("portal-search-postgres", "search", "bench.portal_scale is missing"),
        ]
    )
    results = {r[0]: r[-1] for r in rows}
    assert results["healthz"] == "pass"
    assert results["overhead"] == "FAIL"
    assert results["peer-go-echo"] == "info"
    assert results["peer-go-get"] == "skipped: go-httpbin not found"
    assert results["portal-search-postgres"] == "FAIL, not measured: bench.portal_scale is missing"
    assert {r[0]: r[5] for r in rows}["peer-go-echo"] == "-"  # no bar for an informational ratio


def test_side_by_side_lists_the_servers_measured_and_leaves_out_the_rest() -> None:
    table = report.side_by_side([measured("overhead", 3000, 13000), measured("peer-go-get", 13000, 19000, "info")])
    lines = table.splitlines()
    assert "| bare Starlette | `GET /v1/whoami` (apitest's bytes, same uvicorn settings) | 13,000 |" in lines
    assert "| go-httpbin (`GOMAXPROCS=1`) | `GET /get` | 19,000 |" in lines
    assert "| apitest | `GET /v1/whoami`, file key, PostgreSQL audit with payloads | 3,000 |" in lines
    assert not any("httpbin (gunicorn" in line for line in lines)
    assert report.side_by_side([]) == ""


def test_a_saved_run_rebuilds_the_same_rows() -> None:
    outcomes = [
        measured("healthz", 90, 100),
        measured("peer-go-echo", 10, 100, "info"),
        skipped("peer-go-get", "go", "go-httpbin not found"),
        failed("portal-search-postgres", "search", "missing"),
    ]
    again = [report._outcome(o.as_dict()) for o in outcomes]
    assert report.rows(again) == report.rows(outcomes)
