"""Fixtures of the gateway suite: one apitest per session, gateways per test, the doc's result tables.

- ``fixture`` / ``audit``: the running apitest and its audit rows (session-wide).
- ``idp`` / ``oidc_fixture`` / ``oidc_audit``: a local OIDC provider and a second apitest validating its
  tokens (``oidc.enabled``), started only when a test asks for them (session-wide).
- ``gateway(kind, snippet, upstream=None)``: starts gateway ``kind`` with ``snippet`` (doc addresses, see
  :mod:`tests.gateways.harness`) in front of ``upstream`` (default: the session's apitest); stopped when
  the test ends. ``recipe_gateway(recipe, kind)`` does the same with the doc's snippet for ``recipe``.
- ``results.check(recipe, kind, row)``: asserts the observed row equals the doc's table row, or, with
  ``APITEST_GATEWAY_DOCS=write`` (``make gateways-docs``), collects it and rewrites the tables at the end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.auth.idp import AUDIENCE, LocalIdP
from tests.gateways import doc
from tests.gateways.harness import KINDS, Audit, Fixture, Gateway, run_fixture, start_gateway

WRITE = os.environ.get("APITEST_GATEWAY_DOCS") == "write"

GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    with run_fixture(tmp_path_factory.mktemp("apitest")) as running:
        yield running


@pytest.fixture(scope="session")
def audit(fixture: Fixture) -> Iterator[Audit]:
    reader = Audit(fixture)
    yield reader
    reader.close()


@pytest.fixture(scope="session")
def idp() -> Iterator[LocalIdP]:
    provider = LocalIdP().start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="session")
def oidc_fixture(tmp_path_factory: pytest.TempPathFactory, idp: LocalIdP) -> Iterator[Fixture]:
    """The suite's apitest with OIDC on: bearer JWTs from ``idp`` (issuer, audience ``api-test``)."""
    oidc = {"oidc": {"enabled": True, "issuer": idp.issuer, "audience": AUDIENCE}}
    with run_fixture(tmp_path_factory.mktemp("apitest-oidc"), oidc) as running:
        yield running


@pytest.fixture(scope="session")
def oidc_audit(oidc_fixture: Fixture) -> Iterator[Audit]:
    reader = Audit(oidc_fixture)
    yield reader
    reader.close()


@pytest.fixture
def gateway(fixture: Fixture, tmp_path: Path) -> Iterator[GatewayFactory]:
    with contextlib.ExitStack() as stack:
        count = 0

        def start(kind: str, snippet: str, upstream: str | None = None) -> Gateway:
            nonlocal count
            count += 1
            workdir = tmp_path / f"{kind}-{count}"
            return stack.enter_context(start_gateway(kind, snippet, upstream or fixture.address, workdir))

        yield start


@pytest.fixture
def recipe_gateway(gateway: GatewayFactory) -> Callable[[str, str], Gateway]:
    def start(recipe: str, kind: str) -> Gateway:
        return gateway(kind, doc.snippet(recipe, kind))

    return start


class Results:
    def __init__(self) -> None:
        self.observed: dict[str, dict[str, doc.Row]] = {}

    def check(self, recipe: str, kind: str, observed: dict[str, str]) -> None:
        row = {doc.GATEWAY_COLUMN: kind, **{k: str(v) for k, v in observed.items()}}
        self.observed.setdefault(recipe, {})[kind] = row
        if WRITE:
            return
        documented = doc.documented(recipe, kind)
        assert documented is not None, f"docs/testing-a-gateway.md has no {kind} row for {recipe}; make gateways-docs"
        assert row == documented, f"{recipe} through {kind}: observed differs from the doc (make gateways-docs)"

    def write(self) -> None:
        """Rewrite the observed recipes' tables; gateways not run this time keep their documented rows."""
        tables: dict[str, list[doc.Row]] = {}
        for recipe, rows in self.observed.items():
            kept = [rows.get(k) or doc.documented(recipe, k) for k in KINDS]
            tables[recipe] = [row for row in kept if row is not None]
        doc.rewrite(tables)


@pytest.fixture(scope="session")
def results() -> Iterator[Results]:
    collected = Results()
    yield collected
    if WRITE:
        collected.write()
