"""The batch path of every store (COPY through staging tables on PostgreSQL, executemany elsewhere) stores
what the single-row path stores, and a batch written twice is stored once."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from apitest.audit.records import AuditFilters, AuditStore, PayloadRecord
from apitest.audit.store_sql import (
    COPY_EVENT_COLUMNS,
    COPY_PAYLOAD_COLUMNS,
    JSON_EVENT_FIELDS,
    JSON_PAYLOAD_FIELDS,
    _json,
    copy_event,
    copy_payload,
    event_row,
    payload_row,
)
from tests.audit.conftest import event


def rich(offset: float) -> PayloadRecord:
    return PayloadRecord(
        request_headers={"Accept": ["*/*"], "X-Many": ["a", "b"]},
        request_query={"q": ["1"]},
        request_content_type="application/json",
        request_body=b'{"x": "\\u00e9\xff"}',
        request_size_bytes=12,
        response_headers={"Content-Type": ["application/json"]},
        response_body=bytes(range(256)),
        response_size_bytes=256,
        response_truncated=offset > 1,
    )


async def test_a_batch_is_stored_as_single_rows_are_and_only_once(store: AuditStore) -> None:
    batch = [
        event(i, payload=rich(i), details={"k": [1, "é"]}, header_list=[["Host", "h"]], chunk_offsets=[0.1, 0.2])
        for i in range(3)
    ]
    single = event(10, payload=rich(10), details={"k": [1, "é"]}, header_list=[["Host", "h"]], chunk_offsets=[0.1])
    await store.append_many(batch)
    await store.append_many(batch)  # a retry after a lost commit acknowledgement
    await store.append_many([single])
    assert await store.count(AuditFilters()) == 4
    for sent in [*batch, single]:
        got = await store.get(sent.id)
        assert got is not None and got.recorded_at is not None
        assert replace(got, recorded_at=None) == replace(sent, recorded_at=None)


def test_the_copy_rows_hold_what_the_insert_rows_hold() -> None:
    now = datetime.now(UTC)
    sent = event(1, payload=rich(1), details={"k": [1, "é"], "big": 2**70}, header_list=[["Host", "h"]])
    sent.payload = replace(rich(1), request_query={}, replayed_from="")  # empty map and id: NULL, as inserted
    row = event_row(sent, now)
    copied = dict(zip(COPY_EVENT_COLUMNS, copy_event(sent, now), strict=True))
    for name in COPY_EVENT_COLUMNS:
        got = copied[name]
        assert (json.loads(got) if name in JSON_EVENT_FIELDS and got is not None else got) == row[name], name
    assert copied["details"] is not None and json.loads(copied["details"])["big"] == 2**70  # json.dumps took it
    payload = payload_row(sent)
    assert payload is not None
    copied = dict(zip(COPY_PAYLOAD_COLUMNS, copy_payload(sent, now), strict=True))
    assert copied.pop("captured_at") == now
    for name, value in payload.items():
        got = copied[name]
        assert (json.loads(got) if name in JSON_PAYLOAD_FIELDS and got is not None else got) == value, name
    assert copied["request_query"] is None and copied["replayed_from"] is None


def test_a_value_orjson_refuses_is_encoded_as_json_dumps_encodes_it() -> None:
    lone = {"h": ["\udc80"]}  # a lone surrogate: orjson refuses it, the database decides as before
    assert _json(lone) == json.dumps(lone)
    assert _json(None) is None and json.loads(_json({"a": [1.5, None, True]}) or "") == {"a": [1.5, None, True]}
