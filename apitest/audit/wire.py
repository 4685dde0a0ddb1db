"""Fills the wire-exact fields of an audit row: the request as it arrived (:mod:`apitest.audit.raw`), the
credential evidence the auth stage left (:mod:`apitest.auth.evidence`) and the wire clock
(:mod:`apitest.audit.timing`). Kept apart from :mod:`apitest.audit.capture` so the capture stays one
readable pass over the exchange."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from apitest.audit.raw import MAX_HEADER_LIST, RawCapture
from apitest.audit.records import EventRecord
from apitest.audit.timing import WireClock
from apitest.auth.evidence import EvidenceReader
from apitest.outcome import outcome_of


def fill(
    record: EventRecord,
    scope: Scope,
    raw: RawCapture,
    clock: WireClock,
    evidence: EvidenceReader,
    complete: bool,
    left: bool,
    limit: int = MAX_HEADER_LIST,
) -> None:
    """Set the wire fields of ``record``. ``complete`` / ``left``: the payload tee saw the final body message /
    the client leave. Credentials come from the auth stage; when it did not run (an unrouted request, a path
    outside ``/v1``), they are read here, unchecked (``valid`` null)."""
    head = raw.capture(scope, limit)
    record.raw_target = head.raw_target
    record.http_version = head.http_version
    record.host = head.host
    record.header_list = head.header_list
    if head.truncated:
        record.details = {**(record.details or {}), **head.truncated}
    credentials: Any = outcome_of(scope).credentials
    if credentials is None:
        credentials = evidence.read(scope.get("headers", []), scope.get("query_string", b""))
    record.credentials = credentials if isinstance(credentials, list) and credentials else None
    record.ttfb_ms = clock.ttfb_ms
    record.chunk_offsets = clock.chunk_offsets
    if clock.chunks > len(clock.offsets):
        record.details = {**(record.details or {}), "chunks_total": clock.chunks}
    record.bytes_in = clock.bytes_in()
    record.bytes_out = clock.written
    record.client_complete = clock.client_complete(complete, left)
