"""The store contract, run against the in-memory fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from apitest.audit.records import AuditFilters, AuditStore, Cursor, EventRecord, InvalidRecordError, PayloadRecord
from tests.audit.conftest import T0, event

FULL_PAYLOAD = PayloadRecord(
    request_headers={"Accept": ["*/*"], "X-Api-Key": ["[redacted]"], "X-Trace": ["a", "b"]},
    request_query={"api_key": ["[redacted]"], "page": ["2"]},
    request_content_type="application/octet-stream",
    request_body=b"\x00\xff\xfe binary \x80",
    request_size_bytes=20,
    request_truncated=True,
    request_remote_addr="127.0.0.1:5555",
    response_headers={"Content-Type": ["application/json"]},
    response_content_type="application/json",
    response_body='{"ok":"é"}'.encode(),
    response_size_bytes=13,
    response_truncated=False,
)


async def test_round_trip_with_every_field(store: AuditStore) -> None:
    record = event(
        1.25,
        payload=FULL_PAYLOAD,
        request_id="req-1",
        user_subject="alice",
        user_email="alice@example.com",
        auth_type="apikey",
        api_key_name="alice-key",
        bytes_in=20,
        bytes_out=13,
        error_message="nope",
        error_category="bad_request",
        remote_addr="127.0.0.1:5555",
        user_agent="curl/8",
        source="tryit",
        status=400,
    )
    await store.append_many([record])
    got = await store.get(record.id)
    assert got is not None
    assert got.recorded_at is not None
    assert replace(got, recorded_at=None) == record
    assert got.ts.tzinfo is not None and got.ts == T0 + timedelta(seconds=1.25)


async def test_empty_maps_and_bodies_read_back_as_none(store: AuditStore) -> None:
    record = event(payload=PayloadRecord(request_headers={}, request_body=b"", response_body=b""))
    await store.append_many([record, event()])
    got = await store.get(record.id)
    assert got is not None and got.payload == PayloadRecord()
    assert (await store.get("00000000-0000-4000-8000-000000000000")) is None


async def test_event_without_payload_has_none(store: AuditStore) -> None:
    record = event()
    await store.append_many([record])
    got = await store.get(record.id)
    assert got is not None and got.payload is None


async def test_append_is_idempotent_for_a_retried_batch(store: AuditStore) -> None:
    batch = [event(i, payload=PayloadRecord(response_body=b"x")) for i in range(3)]
    await store.append_many(batch)
    await store.append_many([*batch, event(9)])
    assert await store.count(AuditFilters()) == 4


async def test_replayed_from_must_name_a_stored_event(store: AuditStore) -> None:
    original = event()
    replay = event(1, payload=PayloadRecord(replayed_from=original.id), source="replay")
    with pytest.raises(InvalidRecordError):
        await store.append_many([event(2, payload=PayloadRecord(replayed_from="00000000-0000-4000-8000-000000000000"))])
    await store.append_many([original, replay])  # same batch: events are inserted before payloads
    got = await store.get(replay.id)
    assert got is not None and got.payload is not None and got.payload.replayed_from == original.id


async def test_pages_newest_first_through_ties(store: AuditStore) -> None:
    records = [event(i // 3) for i in range(10)]  # groups of three share a timestamp
    await store.append_many(records)
    expected = sorted(records, key=lambda r: (r.ts, r.id), reverse=True)
    seen: list[str] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        page = await store.list_page(AuditFilters(), cursor, limit=4)
        pages += 1
        assert all(e.payload is None for e in page.events)
        seen += [e.id for e in page.events]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [r.id for r in expected]
    assert pages == 3


async def test_keyset_pages_are_stable_while_rows_arrive(store: AuditStore) -> None:
    first = [event(i) for i in range(6)]
    await store.append_many(first)
    page1 = await store.list_page(AuditFilters(), None, limit=3)
    # New requests arrive, and a long request that started earlier finishes only now.
    await store.append_many([event(100 + i) for i in range(5)] + [event(2.5)])
    page2 = await store.list_page(AuditFilters(), page1.next, limit=3)
    page3 = await store.list_page(AuditFilters(), page2.next, limit=3)
    ids = [e.id for e in page1.events + page2.events + page3.events]
    assert len(ids) == len(set(ids))
    assert {r.id for r in first} <= set(ids)
    assert [e.ts for e in page1.events + page2.events + page3.events] == sorted(
        [e.ts for e in page1.events + page2.events + page3.events], reverse=True
    )


def _dataset() -> list[EventRecord]:
    p = PayloadRecord
    return [
        event(0, request_id="a", method="GET", path="/v1/whoami", user_subject="alice", api_key_name="alice"),
        event(10, request_id="b", method="POST", path="/v1/echo", route_name="echo", endpoint_group="echo", status=201),
        event(20, request_id="c", path="/v1/status/503", route_name="status", endpoint_group="failure", status=503),
        event(30, request_id="d", path="/v1/status/404", route_name="status", endpoint_group="failure", status=404),
        event(
            40,
            request_id="e",
            status=401,
            auth_type=None,
            error_category="missing_credential",
            error_message="no credential presented",
        ),
        event(50, request_id="f", auth_type="bearer", user_subject="svc", api_key_name="svc-token", source="replay"),
        event(60, request_id="g", auth_type="oidc", user_subject="u-1", user_email="bob@example.com", session_id="s1"),
        event(
            70,
            request_id="h",
            path="/v1/data/bytes",
            payload=p(
                request_headers={"X-Marker": ["Needle-In-Header"]},
                request_query={"filter": ["100%_done"]},
                request_body=b"\xff\xfe the BodyNeedle \x00",
                response_body="café-unicode".encode(),
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (AuditFilters(), "abcdefgh"),
        (AuditFilters(since=T0 + timedelta(seconds=20), until=T0 + timedelta(seconds=40)), "cde"),
        (AuditFilters(method="POST"), "b"),
        (AuditFilters(path="/v1/whoami"), "aefg"),
        (AuditFilters(path_contains="STATUS/"), "cd"),
        (AuditFilters(route_name="status"), "cd"),
        (AuditFilters(endpoint_group="failure"), "cd"),
        (AuditFilters(status=503), "c"),
        (AuditFilters(status_class=2), "abfgh"),
        (AuditFilters(status_class=4), "de"),
        (AuditFilters(success=False), "cde"),
        (AuditFilters(success=True), "abfgh"),
        (AuditFilters(auth_type="bearer"), "f"),
        (AuditFilters(user="alice"), "a"),
        (AuditFilters(caller="svc-token"), "f"),
        (AuditFilters(caller="bob@example.com"), "g"),
        (AuditFilters(session="s1"), "g"),
        (AuditFilters(request_id="d"), "d"),
        (AuditFilters(error_category="missing_credential"), "e"),
        (AuditFilters(source="replay"), "f"),
        (AuditFilters(source="wire", status_class=5), "c"),
        (AuditFilters(q="ECHO"), "b"),
        (AuditFilters(q="credential pres"), "e"),
        (AuditFilters(q="needle-in-header"), "h"),
        (AuditFilters(q="x-marker"), "h"),
        (AuditFilters(q="100%_d"), "h"),
        (AuditFilters(q="0%_"), "h"),
        (AuditFilters(q="%"), "h"),
        (AuditFilters(q="_"), "h"),
        (AuditFilters(q="bodyneedle"), "h"),
        (AuditFilters(q="café"), "h"),
        (AuditFilters(q="absent-anywhere"), ""),
    ],
)
async def test_filters(store: AuditStore, filters: AuditFilters, expected: str) -> None:
    await store.append_many(_dataset())
    page = await store.list_page(filters, None, limit=100)
    assert "".join(sorted(e.request_id or "" for e in page.events)) == expected
    assert await store.count(filters) == len(expected)


async def test_count_stops_at_the_cap(store: AuditStore) -> None:
    await store.append_many([event(i) for i in range(25)])
    assert await store.count(AuditFilters()) == 25
    assert await store.count(AuditFilters(), cap=10) == 10
    assert await store.count(AuditFilters(), cap=100) == 25
    assert await store.count(AuditFilters(status=500), cap=10) == 0


async def test_timeseries_buckets_the_window(store: AuditStore) -> None:
    records = [
        event(0.5, duration_ms=10),
        event(59.9, duration_ms=20, status=500),
        event(60, duration_ms=30),
        event(179.999, duration_ms=7),
        event(180, duration_ms=99),  # == until: outside [since, until)
        event(-1, duration_ms=99),  # before since
    ]
    await store.append_many(records)
    window = AuditFilters(since=T0, until=T0 + timedelta(seconds=180))
    buckets = await store.timeseries(window, 60)
    assert [(b.start, b.count, b.errors, b.avg_duration_ms) for b in buckets] == [
        (T0, 2, 1, 15.0),
        (T0 + timedelta(seconds=60), 1, 0, 30.0),
        (T0 + timedelta(seconds=120), 1, 0, 7.0),
        (T0 + timedelta(seconds=180), 0, 0, 0.0),  # the boundary bucket, as in the original
    ]
    filtered = await store.timeseries(replace(window, success=False), 60)
    assert [b.count for b in filtered] == [1, 0, 0, 0]
    half_hour = await store.timeseries(AuditFilters(since=T0, until=T0 + timedelta(minutes=30)), 300)
    assert len(half_hour) == 7
    with pytest.raises(ValueError, match="too many buckets"):
        await store.timeseries(AuditFilters(since=T0, until=T0 + timedelta(days=1)), 1)


async def test_breakdown_dimensions(store: AuditStore) -> None:
    await store.append_many(_dataset())
    everything = AuditFilters()

    async def groups(dimension: str, top: int = 20) -> list[tuple[str, int, int]]:
        return [(g.key, g.count, g.errors) for g in await store.breakdown(everything, dimension, top)]

    assert await groups("endpoint_group") == [("identity", 5, 1), ("failure", 2, 2), ("echo", 1, 0)]
    assert await groups("endpoint_group", top=2) == [("identity", 5, 1), ("failure", 2, 2)]
    assert await groups("status_class") == [("2xx", 5, 0), ("4xx", 2, 2), ("5xx", 1, 1)]
    assert await groups("status") == [("200", 4, 0), ("201", 1, 0), ("401", 1, 1), ("404", 1, 1), ("503", 1, 1)]
    assert await groups("auth_type") == [
        ("anonymous", 5, 2),
        ("(unauthenticated)", 1, 1),
        ("bearer", 1, 0),
        ("oidc", 1, 0),
    ]
    assert await groups("user") == [("(anonymous)", 5, 3), ("alice", 1, 0), ("bob@example.com", 1, 0), ("svc", 1, 0)]
    with pytest.raises(ValueError, match="unknown dimension"):
        await store.breakdown(everything, "tool", 5)


async def test_breakdown_placeholders_for_empty_values(store: AuditStore) -> None:
    await store.append_many(
        [event(0, route_name=None, endpoint_group=None), event(1, user_subject=None, api_key_name="k1")]
    )
    routes = await store.breakdown(AuditFilters(), "route_name", 10)
    assert [(g.key, g.count) for g in routes] == [("(unknown)", 1), ("whoami", 1)]
    users = await store.breakdown(AuditFilters(), "user", 10)
    assert [(g.key, g.count) for g in users] == [("(anonymous)", 1), ("key:k1", 1)]


async def test_stats_percentiles_are_nearest_rank(store: AuditStore) -> None:
    records = [event(i, duration_ms=d, status=500 if d % 10 == 0 else 200) for i, d in enumerate(range(100, 0, -1))]
    await store.append_many(records)
    stats = await store.stats(AuditFilters())
    assert (stats.total, stats.errors, stats.error_rate) == (100, 10, 0.1)
    # The original's nearest rank: sorted[floor((n - 1) * p)], no interpolation.
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (50.0, 95.0, 99.0)
    assert stats.extra == {"avg_ms": 50.5, "max_ms": 100}
    few = await store.stats(AuditFilters(until=T0 + timedelta(seconds=2)))  # durations 98, 99, 100
    assert (few.total, few.p50_ms, few.p95_ms, few.p99_ms) == (3, 99.0, 99.0, 99.0)
    ten = await store.stats(AuditFilters(until=T0 + timedelta(seconds=9)))  # durations 91 ... 100
    assert (ten.total, ten.p50_ms, ten.p95_ms, ten.p99_ms) == (10, 95.0, 99.0, 99.0)
    empty = await store.stats(AuditFilters(method="PUT"))
    assert (empty.total, empty.errors, empty.error_rate, empty.p50_ms, empty.p99_ms) == (0, 0, 0.0, 0.0, 0.0)


async def test_delete_older_than_in_batches_cascades_payloads(store: AuditStore) -> None:
    old = [event(-3600 - i, payload=PayloadRecord(response_body=b"old")) for i in range(7)]
    keep = event(0, payload=PayloadRecord(replayed_from=old[0].id), source="replay")
    await store.append_many([*old, keep])
    deleted = await store.delete_older_than(T0 - timedelta(seconds=60), batch_size=3)
    assert deleted == 7
    assert await store.count(AuditFilters()) == 1
    assert await store.get(old[0].id) is None
    kept = await store.get(keep.id)
    assert kept is not None and kept.payload is not None and kept.payload.replayed_from is None
    assert await store.delete_older_than(T0 - timedelta(seconds=60)) == 0


async def test_tail_follows_write_order(store: AuditStore) -> None:
    first = [event(100), event(1)]
    await store.append_many(first)
    start = await store.tail(AuditFilters(), Cursor(T0 - timedelta(days=3650), ""), 10)
    assert {e.id for e in start.events} == {r.id for r in first}
    assert start.next is not None
    late = event(-50)  # a long request that started long ago and was written last
    await store.append_many([late])
    more = await store.tail(AuditFilters(), start.next, 10)
    assert [e.id for e in more.events] == [late.id]
    assert more.next is not None
    idle = await store.tail(AuditFilters(), more.next, 10)
    assert idle.events == [] and idle.next == more.next


async def test_details_round_trip(store: AuditStore) -> None:
    details = {"attempt": 2, "ws": {"messages_in": 3, "close_code": 1000}, "note": "ünïcode"}
    with_details, without = event(details=details), event(1)
    await store.append_many([with_details, without])
    got = await store.get(with_details.id)
    assert got is not None and got.details == details
    plain = await store.get(without.id)
    assert plain is not None and plain.details is None


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "record_problem"),
    [("22021", True), ("22P05", True), ("23505", True), ("54000", True), ("08006", False), ("57P01", False)],
)
def test_database_errors_are_classed_by_sqlstate(sqlstate: str, record_problem: bool) -> None:
    from sqlalchemy.exc import DBAPIError

    from apitest.audit.store_sql import refuses_record

    wrapped = DBAPIError("INSERT ...", {}, _DriverError(sqlstate))
    assert refuses_record(wrapped) is record_problem


def test_driver_value_errors_are_record_problems_and_connection_errors_are_not() -> None:
    from apitest.audit.store_sql import refuses_record

    try:
        "\ud800".encode("utf-8")
    except UnicodeEncodeError as exc:
        assert refuses_record(exc)
    assert not refuses_record(ConnectionRefusedError(111, "refused"))
    assert not refuses_record(TimeoutError())


async def test_wire_fields_round_trip_and_filter(store: AuditStore) -> None:
    creds = [
        {"kind": "api_key", "source": "header", "name": "X-API-Key", "valid": True, "used": True,
         "fingerprint": "sha256:0123456789ab"},
    ]  # fmt: skip
    wired = event(
        duration_ms=1.234,
        raw_target="/v1/fixed/a%2Fb?x=%2e",
        http_version="1.0",
        host="gw:8443",
        header_list=[["Host", "gw:8443"], ["X-Dup", "1"], ["x-dup", "2"]],
        credentials=creds,
        ttfb_ms=0.5,
        chunk_offsets=[1.0, 1001.25],
        client_complete=False,
    )
    other = event(1, raw_target="/v1/fixed/a/b", duration_ms=2.5)
    await store.append_many([wired, other])
    got = await store.get(wired.id)
    assert got is not None
    assert (got.raw_target, got.http_version, got.host, got.header_list) == (
        "/v1/fixed/a%2Fb?x=%2e",
        "1.0",
        "gw:8443",
        [["Host", "gw:8443"], ["X-Dup", "1"], ["x-dup", "2"]],
    )
    assert (got.credentials, got.ttfb_ms, got.chunk_offsets, got.client_complete) == (creds, 0.5, [1.0, 1001.25], False)
    assert got.duration_ms == 1.234

    async def ids(f: AuditFilters) -> list[str]:
        return [e.id for e in (await store.list_page(f)).events]

    assert await ids(AuditFilters(raw_target="%2F")) == [wired.id]
    assert await ids(AuditFilters(raw_target="%2f")) == []  # bytes, not letters: case matters
    assert await ids(AuditFilters(raw_target="/v1/fixed/a")) == [other.id, wired.id]
    assert await ids(AuditFilters(fingerprint="sha256:0123456789ab")) == [wired.id]
    assert await ids(AuditFilters(fingerprint="sha256:0123456789ac")) == []
    stats = await store.stats(AuditFilters())
    assert stats.extra["max_ms"] == 2.5
