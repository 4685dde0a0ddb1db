"""``audit.scope``: v1 records only ``/v1``; all records every other path but the fixture's own surfaces."""

from __future__ import annotations

import pytest

from apitest.audit.scope import unaudited
from tests.audit.test_capture import AuditedFactory
from tests.audit.test_capture import audited as audited  # noqa: F401 - the fixture

OUTSIDE = ["/version", "/openapi.json", "/nowhere", "/.well-known/oauth-protected-resource"]
OWN = ["/healthz", "/readyz", "/metrics", "/docs/assets/swagger-ui.css", "/portal/", "/api/v1/portal/me"]


@pytest.mark.parametrize("path", [*OWN, "/api/v1/admin/keys", "/static/x.js", "/v1", "/v1/echo"])
def test_the_fixture_s_own_surfaces_are_never_recorded_twice(path: str) -> None:
    assert unaudited(path)


@pytest.mark.parametrize("path", [*OUTSIDE, "/", "/docs", "/portalx", "/v10", "/metricsx"])
def test_other_paths_are_recorded(path: str) -> None:
    assert not unaudited(path)


async def test_scope_v1_records_only_v1(audited: AuditedFactory) -> None:
    a = await audited()
    for path in OUTSIDE:
        await a.client.get(path)
    await a.client.get("/v1/t/status/200")
    assert [r.path for r in await a.rows()] == ["/v1/t/status/200"]


async def test_scope_all_records_other_paths_once(audited: AuditedFactory) -> None:
    a = await audited({"audit": {"scope": "all"}})
    for path in [*OUTSIDE, *OWN, "/v1/t/status/200"]:
        r = await a.client.get(path)
        assert ("apitest-event-id" in r.headers) == (path in OUTSIDE or path.startswith("/v1")), path
    rows = await a.rows()
    assert [r.path for r in rows] == [*OUTSIDE, "/v1/t/status/200"]
    nowhere = rows[2]
    assert (nowhere.status, nowhere.route_name, nowhere.error_category) == (404, None, "not_found")
    assert nowhere.raw_target == "/nowhere"
