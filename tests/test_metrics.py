"""/metrics: request counts by route name, status and auth type; latency; audit and pool gauges."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest

from apitest.metrics import Metrics
from tests.support import MetricSources, make_settings

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Exposition text -> {(name, labels): value}."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparseable metrics line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m["labels"] or ""))
        out[(m["name"], labels)] = float(m["value"])
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient, **kwargs: object) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


async def test_requests_counted_by_route_name_status_and_auth_type(client: httpx.AsyncClient) -> None:
    for path in ("/v1/whoami", "/v1/whoami", "/v1/status/503", "/v1/status/418", "/healthz", "/no/such/path-123"):
        await client.get(path)
    s = await scrape(client)
    total = "apitest_http_requests_total"
    assert value(s, total, route="whoami", method="GET", status="200", auth_type="anonymous") == 2
    assert value(s, total, route="status", method="GET", status="503", auth_type="anonymous") == 1
    assert value(s, total, route="status", method="GET", status="418", auth_type="anonymous") == 1
    assert value(s, total, route="/healthz", method="GET", status="200", auth_type="none") == 1
    assert value(s, total, route="unmatched", method="GET", status="404", auth_type="none") == 1
    # raw paths never become label values
    assert not any("path-123" in v or "/v1/status/503" in v for _, labels in s for _, v in labels)
    assert value(s, "apitest_http_request_duration_seconds_count", route="whoami", method="GET") == 2
    assert value(s, "apitest_http_request_duration_seconds_bucket", route="whoami", method="GET", le="+Inf") == 2


async def test_latency_histogram_sees_slow_requests(client: httpx.AsyncClient) -> None:
    await client.get("/v1/slow", params={"ms": "120"})
    s = await scrape(client)
    bucket = "apitest_http_request_duration_seconds_bucket"
    assert value(s, bucket, route="slow", method="GET", le="0.1") == 0
    assert value(s, bucket, route="slow", method="GET", le="+Inf") == 1  # (no upper bound: a loaded host is slow)
    assert value(s, "apitest_http_request_duration_seconds_sum", route="slow", method="GET") >= 0.12


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/v1/whoami")
    s = await scrape(client)
    # no operation matched, so the label is the path template, not an operation name
    total = "apitest_http_requests_total"
    assert value(s, total, route="/v1/whoami", method="OTHER", status="405", auth_type="none") == 1


async def test_build_info_and_start_time(client: httpx.AsyncClient) -> None:
    from apitest import __version__

    s = await scrape(client)
    (info,) = [labels for (name, labels) in s if name == "apitest_build_info"]
    assert ("version", __version__) in info
    assert value(s, "apitest_start_time_seconds") > 1.7e9
    assert value(s, "process_resident_memory_bytes") > 0  # single-process mode keeps the process collector


async def test_auth_types_are_labelled(client_factory) -> None:
    client = await client_factory(
        {
            "auth": {"allow_anonymous": False},
            "api_keys": {"file": [{"name": "k", "key": "metrics-test-key"}]},
            "bearer": {"tokens": [{"name": "b", "token": "metrics-test-bearer"}]},
        }
    )
    await client.get("/v1/whoami", headers={"X-API-Key": "metrics-test-key"})
    await client.get("/v1/whoami", headers={"Authorization": "Bearer metrics-test-bearer"})
    await client.get("/v1/whoami")
    await client.get("/v1/whoami", headers={"X-API-Key": "wrong"})
    s = await scrape(client)
    total = "apitest_http_requests_total"
    assert value(s, total, route="whoami", method="GET", status="200", auth_type="apikey") == 1
    assert value(s, total, route="whoami", method="GET", status="200", auth_type="bearer") == 1
    assert value(s, total, route="whoami", method="GET", status="401", auth_type="none") == 2


async def test_disabled_metrics_are_not_served(client_factory) -> None:
    client = await client_factory({"metrics": {"enabled": False}})
    assert (await client.get("/metrics")).status_code == 404


async def test_require_auth_needs_a_credential_even_with_anonymous_on(client_factory) -> None:
    client = await client_factory(
        {"metrics": {"require_auth": True}, "api_keys": {"file": [{"name": "ops", "key": "metrics-scrape-key"}]}}
    )
    refused = await client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json() == {"error": "missing credential"}
    assert (await client.get("/metrics", headers={"X-API-Key": "nope"})).status_code == 401
    ok = await client.get("/metrics", headers={"X-API-Key": "metrics-scrape-key"})
    assert ok.status_code == 200
    assert "apitest_build_info" in ok.text


async def test_audit_pipeline_and_pool_gauges(client_factory, sqlite_url: str) -> None:
    client = await client_factory({"database": {"url": sqlite_url}, "audit": {"enabled": True, "buffer_size": 64}})
    for _ in range(5):
        await client.get("/v1/whoami")
    writer = client.app.state.audit  # type: ignore[attr-defined]
    assert writer is not None
    assert await writer.flush()
    s = await scrape(client)
    assert value(s, "apitest_audit_enabled") == 1
    assert value(s, "apitest_audit_events_written_total") == 5
    assert value(s, "apitest_audit_events_accepted_total") == 5
    assert value(s, "apitest_audit_events_dropped_total") == 0
    assert value(s, "apitest_audit_buffer_capacity") == 64
    assert value(s, "apitest_audit_batches_total") >= 1
    assert 1 <= value(s, "apitest_audit_last_batch_size") <= 5
    assert value(s, "apitest_audit_batch_duration_seconds_total") > 0
    assert value(s, "apitest_db_pool_connections", state="checked_out") == 0
    # a second scrape does not count the same events twice
    s = await scrape(client)
    assert value(s, "apitest_audit_events_written_total") == 5


@dataclass
class FakeStats:
    buffer_size: int = 10
    buffer_bytes: int = 1000
    queued: int = 0
    queued_bytes: int = 0
    accepted_total: int = 0
    written_total: int = 0
    dropped_total: int = 0
    rejected_total: int = 0
    scrubbed_total: int = 0
    write_errors_total: int = 0
    batches_total: int = 0
    batch_seconds_total: float = 0.0
    last_batch_size: int = 0
    last_batch_ms: float = 0.0


class FakeWriter:
    def __init__(self) -> None:
        self.stats = FakeStats()


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([{"dropped_total": 3}], {"dropped": 3}),
        ([{"dropped_total": 3}, {"dropped_total": 3}], {"dropped": 3}),
        ([{"dropped_total": 3}, {"dropped_total": 10, "write_errors_total": 2}], {"dropped": 10, "errors": 2}),
        # a new writer (a new lifespan) starts from zero: its counts add to what was already exported
        ([{"dropped_total": 3}, "new", {"dropped_total": 1}], {"dropped": 4}),
    ],
)
def test_cumulative_stats_become_monotonic_counters(steps: list[object], expected: dict[str, float]) -> None:
    metrics = Metrics()
    services = MetricSources(settings=make_settings())
    writer = FakeWriter()
    services.audit = writer
    for step in steps:
        if step == "new":
            writer = FakeWriter()
            services.audit = writer
            continue
        assert isinstance(step, dict)
        for key, v in step.items():
            setattr(writer.stats, key, v)
        metrics.sync(services)
    s = parse(metrics.render().decode())
    assert value(s, "apitest_audit_events_dropped_total") == expected.get("dropped", 0)
    assert value(s, "apitest_audit_write_errors_total") == expected.get("errors", 0)


def test_queue_depth_and_last_batch_are_gauges() -> None:
    metrics = Metrics()
    services = MetricSources(settings=make_settings())
    writer = FakeWriter()
    services.audit = writer
    writer.stats.queued, writer.stats.last_batch_size, writer.stats.last_batch_ms = 7, 42, 12.5
    metrics.sync(services)
    writer.stats.queued = 2
    metrics.sync(services)
    s = parse(metrics.render().decode())
    assert value(s, "apitest_audit_queued") == 2
    assert value(s, "apitest_audit_last_batch_size") == 42
    assert value(s, "apitest_audit_last_batch_duration_seconds") == pytest.approx(0.0125)


def test_buffer_bytes_scrubbed_rows_and_slow_bodies_are_exported() -> None:
    from apitest.http_guard import GUARD_STATS

    metrics = Metrics()
    services = MetricSources(settings=make_settings())
    writer = FakeWriter()
    services.audit = writer
    writer.stats.queued_bytes, writer.stats.scrubbed_total = 4096, 3
    metrics.sync(services)
    GUARD_STATS.slow_bodies["idle"] += 2
    metrics.sync(services)
    s = parse(metrics.render().decode())
    assert value(s, "apitest_audit_queued_bytes") == 4096
    assert value(s, "apitest_audit_buffer_capacity_bytes") == 1000
    assert value(s, "apitest_audit_events_scrubbed_total") == 3
    assert value(s, "apitest_http_slow_body_timeouts_total", reason="idle") == GUARD_STATS.slow_bodies["idle"]
    assert value(s, "apitest_http_slow_body_timeouts_total", reason="rate") == GUARD_STATS.slow_bodies["rate"]


def requests_only(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = parse(metrics.render().decode())
    return {k: v for k, v in samples.items() if k[0].startswith("apitest_http_request")}


def test_the_tally_adds_up_to_what_observing_each_response_gives() -> None:
    durations = [0.0, 0.001, 0.005, 0.0051, 0.01, 0.3, 2.5, 119.0, 120.0, 500.0]  # bounds themselves included
    tallied, observed = Metrics(), Metrics()
    for round_ in range(2):  # a second sync adds to what the first one added
        for i, seconds in enumerate(durations):
            status = 200 if i % 3 else 503
            tallied.tally.observe("whoami", "GET", status, "api_key", seconds)
            observed.requests.labels("whoami", "GET", str(status), "api_key").inc()
            observed.latency.labels("whoami", "GET").observe(seconds)
        tallied.tally.observe("echo", "POST", 0, "none", 0.02 * round_)
        observed.requests.labels("echo", "POST", "0", "none").inc()
        observed.latency.labels("echo", "POST").observe(0.02 * round_)
        tallied.sync_requests()
        assert requests_only(tallied) == pytest.approx(requests_only(observed))  # sums: added in another order
        assert tallied.tally.counts == {} and tallied.tally.latency == {}  # taken
    bucket = "apitest_http_request_duration_seconds_bucket"
    assert value(requests_only(tallied), bucket, route="whoami", method="GET", le="0.005") == 6  # 0, 0.001, 0.005
    assert value(requests_only(tallied), bucket, route="whoami", method="GET", le="+Inf") == 20


def test_in_flight_is_the_tallys_count_at_the_sync() -> None:
    metrics = Metrics()
    metrics.tally.in_flight += 2
    metrics.sync_requests()
    assert value(parse(metrics.render().decode()), "apitest_http_requests_in_flight") == 2
