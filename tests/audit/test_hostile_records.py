"""The audit log cannot be poisoned: whatever a client sends (or an identity provider signs), every event is
stored and reads back, on SQLite and on PostgreSQL (the ``postgres`` half runs in ``make integration``).

Two defences are tested separately: capture makes every captured field storable (a property test over every
field, through the real capture middleware and the SQL store), and the writer stores a record the database
still refuses with its offending fields replaced and marked (records built by hand, bypassing capture).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from apitest.audit.buffer import AuditWriter
from apitest.audit.capture import AUDIT_DETAILS_KEY, AuditMiddleware
from apitest.audit.records import EventRecord, PayloadRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from apitest.identity import Identity
from apitest.outcome import outcome_of
from tests.support import make_settings

HOSTILE_CHARS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates, which st.characters() never draws
    st.sampled_from("\x00\u2028\u2029\x85\ufffd\\"),
)
hostile_text = st.lists(HOSTILE_CHARS, max_size=40).map("".join)
header_name = st.binary(min_size=1, max_size=20).map(lambda b: b.lower())


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    return {
        "path": "/v1/" + draw(hostile_text),
        "query": draw(st.binary(max_size=60)),
        "headers": draw(st.lists(st.tuples(header_name, st.binary(max_size=60)), max_size=6)),
        "body": draw(st.binary(max_size=200)),
        "response_body": draw(st.binary(max_size=200)),
        "response_header": draw(st.binary(max_size=40)),
        "subject": draw(hostile_text),
        "email": draw(hostile_text),
        "key_name": draw(hostile_text),
        "message": draw(hostile_text),
        "details": draw(st.dictionaries(hostile_text, hostile_text | st.floats() | st.integers(), max_size=4)),
        "content_type": draw(st.binary(max_size=30)),
        "user_agent": draw(st.binary(max_size=30)),
    }


def hostile_app(case: dict[str, Any]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        outcome = outcome_of(scope)
        outcome.identity = Identity(
            subject=case["subject"], auth_type="oidc", key_name=case["key_name"], email=case["email"]
        )
        outcome.error_message = case["message"]
        scope["state"][AUDIT_DETAILS_KEY] = case["details"]
        headers = [(b"content-type", case["content_type"]), (b"x-reflected", case["response_header"])]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": case["response_body"]})

    return app


def scope_of(case: dict[str, Any]) -> Scope:
    headers = [*case["headers"], (b"user-agent", case["user_agent"]), (b"content-type", case["content_type"])]
    return {
        "type": "http",
        "method": "POST",
        "path": case["path"],
        "query_string": case["query"],
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "state": {},
    }


async def capture_and_store(url: str, cases: list[dict[str, Any]]) -> None:
    database = Database(url)
    store = SQLAuditStore(database)
    settings = make_settings({"audit": {"max_header_bytes": 4096}})
    writer = AuditWriter(store, flush_interval=0.0)
    writer.start()
    try:
        ids = []
        for case in cases:
            scope = scope_of(case)
            body = iter([{"type": "http.request", "body": case["body"], "more_body": False}])

            async def receive(messages: Any = body) -> dict[str, Any]:
                return next(messages, {"type": "http.disconnect"})

            async def send(message: dict[str, Any]) -> None:
                pass

            await AuditMiddleware(hostile_app(case), settings=settings, writer=writer)(scope, receive, send)
            ids.append(outcome_of(scope).audit_event_id)
        assert await writer.flush(within=30)
        assert (writer.stats.dropped_total, writer.stats.scrubbed_total) == (0, 0), writer.stats.last_error
        for event_id, case in zip(ids, cases, strict=True):
            row = await store.get(event_id)
            assert row is not None and row.payload is not None
            assert row.payload.request_body == (case["body"] or None)
            assert row.payload.response_body == (case["response_body"] or None)
            assert row.user_subject is None or "\x00" not in row.user_subject
    finally:
        await writer.close(within=5)
        await database.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(requests(), min_size=1, max_size=4))
def test_every_captured_field_of_any_request_is_stored_and_read_back(db_url: str, cases: list[dict[str, Any]]) -> None:
    asyncio.run(capture_and_store(db_url, cases))


def poisoned(**fields: Any) -> EventRecord:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "ts": datetime.now(UTC),
        "method": "GET",
        "path": "/v1/whoami",
        "status": 401,
        "success": False,
        "error_category": "invalid_credential",
    }
    values.update(fields)
    return EventRecord(**values)


POISONS = {
    "error message with a lone surrogate": {"error_message": "unsupported algorithm (alg X\ud800)"},
    "subject with NUL": {"user_subject": "a\x00b", "user_email": "e\ud800@x", "auth_type": "oidc"},
    "path with NUL": {"path": "/v1/\x00"},
    "details with NUL and surrogates": {"details": {"k\x00": "v\ud800", "n": "\x00"}},
    "payload maps and text": {
        "payload": PayloadRecord(
            request_headers={"X-A\x00": ["\ud800"]},
            request_query={"q": ["\x00"]},
            request_content_type="text/\x00",
            request_body=b"\x00\xff",
        )
    },
    "an index entry PostgreSQL cannot hold": {"path": "/v1/" + os.urandom(6000).hex()},
}


@pytest.mark.parametrize("fields", POISONS.values(), ids=POISONS.keys())
async def test_a_record_the_database_refuses_is_stored_marked_and_the_batch_goes_on(
    db_url: str, fields: dict[str, Any]
) -> None:
    database = Database(db_url)
    store = SQLAuditStore(database)
    writer = AuditWriter(store, flush_interval=0.0, batch_size=50)
    writer.start()
    try:
        bad = poisoned(**fields)
        clean = [poisoned(path=f"/v1/clean/{i}") for i in range(20)]
        for record in [clean[0], bad, *clean[1:]]:
            assert writer.offer(record)
        assert await writer.flush(within=30)
        assert writer.stats.written_total == 21 and writer.stats.dropped_total == 0
        for record in clean:
            assert await store.get(record.id) is not None
        row = await store.get(bad.id)
        assert row is not None and row.status == 401
        if db_url.startswith("postgresql"):  # SQLite holds some of these as they are; PostgreSQL refuses each
            assert writer.stats.scrubbed_total == 1
        if writer.stats.scrubbed_total:
            assert row.details is not None
            assert "audit_scrubbed" in row.details or "audit_unstorable" in row.details
    finally:
        await writer.close(within=5)
        await database.dispose()
