"""Schemathesis against ``/openapi.json``: every operation of every group, over loopback, under the production
uvicorn settings with the audit on (SQLite), anonymous access.

Checks: no undocumented status, declared content types, declared headers, bodies matching their schemas, and
no 5xx outside the operations that produce them on purpose. Those (``/v1/status/{code}``, ``/v1/flaky``,
``/v1/respond``) are still checked for conformance; ``/v1/crash`` and ``/v1/fault/{kind}`` (a deliberate 500
and deliberately broken connections) are left out. Parameters that only make a request wait (``ms``,
``delay_ms``...) or make it big are folded into small values when they are within their documented range, so
the run stays bounded; out-of-range values are kept and must be refused with a documented 400.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apitest.app import create_app
from apitest.server import uvicorn_config
from tests.support import free_port, make_settings

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SSE_PATHS = {"/v1/streaming/sse"}
# Deliberate 5xx: asked for (status, flaky, respond, attempts, drip's code) or a switched-off feature
# (webhooks.enabled off, no receiver secret: 503).
DELIBERATE_5XX = re.compile(r"^/v1/(status/\{code\}|flaky|respond|attempts/\{key\}|drip|webhooks/(send|receive))$")
LEFT_OUT = r"^/v1/(crash|fault/\{kind\})$"
MAX_EXAMPLES = 30
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Within the documented range, fold these into small values: each is a wait (ms) or a size.
FOLD: dict[str, tuple[int, int]] = {  # name: (documented maximum, folded modulus)
    "ms": (60_000, 50),
    "min_ms": (60_000, 50),
    "max_ms": (60_000, 50),
    "median_ms": (60_000, 50),
    "delay_ms": (60_000, 20),
    "duration_ms": (60_000, 50),
    "interval_ms": (10_000, 20),
    "count": (1_000, 20),
    "bytes": (33_554_432, 65_536),
    "size_kb": (10_240, 64),
    "rows": (250_000, 500),
}

# The app is built at import, so the document the cases are generated from is the one it serves; the fixture runs it.
PORT = free_port()
# Named here, created by the app's database component when the server starts: collecting this module (as every
# other suite does) leaves nothing on disk.
DATA_DIR = Path(tempfile.gettempdir()) / f"apitest-schemathesis-{secrets.token_hex(6)}"
SETTINGS = make_settings(
    {
        "server": {"address": f"127.0.0.1:{PORT}"},
        "database": {"url": f"sqlite+aiosqlite:///{DATA_DIR / 'audit.db'}"},
        "audit": {"enabled": True},
    }
)
APP = create_app(SETTINGS)
DOCUMENT: dict[str, Any] = APP.state.services.openapi.data
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path_regex=LEFT_OUT)


CUT_CONNECTION = {"mode": "reset", "after_commit": "reset"}  # parameter values that break the connection on purpose


def fold(query: dict[str, Any] | None) -> None:
    """Shrink waits and sizes within their documented range (done on the case itself: every generation
    phase, boundary values included, passes through here), and drop the values that reset the connection."""
    for name, value in CUT_CONNECTION.items():
        if (query or {}).get(name) == value:
            del query[name]  # type: ignore[union-attr]
    for name, (maximum, modulus) in FOLD.items():
        value = (query or {}).get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum:
            query[name] = value % modulus  # type: ignore[index]
        elif isinstance(value, str) and value.isdigit() and int(value) <= maximum:
            query[name] = str(int(value) % modulus)  # type: ignore[index]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = uvicorn.Server(uvicorn_config(SETTINGS, APP))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{PORT}"
    assert httpx.get(url + "/openapi.json", timeout=10).json() == DOCUMENT
    yield url
    server.should_exit = True
    thread.join(15)
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_responses_conform_to_the_document(case: Any, base_url: str) -> None:
    fold(case.query)
    checks = list(CONFORMANCE)
    if case.operation.path in SSE_PATHS:
        # Schemathesis reads the schema of a text/event-stream response in an OpenAPI 3.1 document as the schema
        # of one parsed event (an object); this 3.1 document describes the stream itself, as text.
        checks.remove(response_schema_conformance)
    if not DELIBERATE_5XX.match(case.operation.path):
        checks.append(not_a_server_error)
    case.call_and_validate(base_url=base_url, checks=checks, timeout=15)
