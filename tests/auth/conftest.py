from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitest.db.engine import upgrade
from tests.auth.idp import LocalIdP


@pytest.fixture(scope="session")
def idp_server() -> Iterator[LocalIdP]:
    provider = LocalIdP().start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def idp(idp_server: LocalIdP) -> LocalIdP:
    """A local OIDC provider on 127.0.0.1 (discovery + JWKS) with keys the test controls; reset per test."""
    idp_server.reset()
    return idp_server


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "apitest.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite: Path, tmp_path: Path) -> str:
    """A migrated SQLite file for one test: a copy of a database migrated once per run."""
    shutil.copyfile(migrated_sqlite, tmp_path / "apitest.db")
    return f"sqlite+aiosqlite:///{tmp_path}/apitest.db"


@pytest.fixture(autouse=True)
def apitest_logs_reach_caplog(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Every apitest log call is really built (DEBUG), so a bad ``extra`` fails here and not in
    production; and ``apitest.cli.main`` (run by other tests) stops the logger propagating, which
    caplog needs."""
    monkeypatch.setattr(logging.getLogger("apitest"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="apitest")
