"""Zero drops at saturation: a real server under as much closed-loop load as the generator makes (5 s,
``/v1/whoami`` and ``POST /v1/echo``, PostgreSQL audit with payloads and headers, the default buffer) stores
one row per response and counts no drop. Bounded: 5 s of load, then at most 40 s for the writer to finish."""

from __future__ import annotations

import secrets

import pytest

from bench import configs, loadgen, pg
from bench.common import metric, metric_samples, wait_for
from tests.reliability.conftest import BackgroundLoad, ServerFactory, writer_stopped

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

LOAD_S = 5.0
CONNECTIONS = 32


def test_saturating_load_stores_every_response_and_drops_nothing(apitest_server: ServerFactory, pg_url: str) -> None:
    key = configs.new_key()
    agent = f"reliability-saturation-{secrets.token_hex(4)}"
    server = apitest_server("saturation", database_url=pg_url, key=key, extra={"audit": {"capture_headers": True}})
    auth = {"X-API-Key": key}
    payloads = [
        loadgen.build_request("GET", "/v1/whoami", server.port, auth, user_agent=agent),
        loadgen.build_request(
            "POST",
            "/v1/echo",
            server.port,
            {**auth, "Content-Type": "application/json"},
            b'{"saturation":"' + b"x" * 1000 + b'"}',
            user_agent=agent,
        ),
    ]
    result = BackgroundLoad(server.port, payloads, connections=CONNECTIONS, duration=LOAD_S).start().join()
    assert not result.errors, dict(result.errors)
    assert set(result.statuses) == {200}, dict(result.statuses)

    def rows() -> int:
        return pg.count_rows(pg_url, "SELECT count(*) FROM audit_events WHERE user_agent = $1", agent)

    assert wait_for(lambda: rows() >= result.responses, timeout=40), (rows(), result.responses)
    samples = metric_samples(server.url)
    assert (metric(samples, "apitest_audit_events_dropped_total") or 0) == 0
    assert server.stop(timeout=30) == 0
    assert rows() == result.responses
    final = writer_stopped(server)
    assert final["dropped_total"] == 0
