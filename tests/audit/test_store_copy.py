"""The batch path of every store (COPY through staging tables on PostgreSQL, executemany elsewhere) stores
what the single-row path stores, and a batch written twice is stored once."""

from __future__ import annotations

from dataclasses import replace

from apitest.audit.records import AuditFilters, AuditStore, PayloadRecord
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
