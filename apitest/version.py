"""``GET /version`` (unauthenticated, not audited): what is running, and which worker process answered.

``commit`` comes from ``APITEST_COMMIT`` (set by the image build), else from ``git rev-parse`` when the
package runs from a git checkout, else ``unknown``; ``build_date`` from ``APITEST_BUILD_DATE``, else
``unknown``. ``pid`` is the worker process, so a client can tell the workers of ``--workers N`` apart.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apitest import __version__
from apitest.db.engine import Database
from apitest.http import json_response

UNKNOWN = "unknown"


@functools.cache
def git_commit() -> str:
    checkout = Path(__file__).resolve().parents[1]
    git = shutil.which("git")
    if git is None or not (checkout / ".git").exists():
        return UNKNOWN
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [git, "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else UNKNOWN


def build_info() -> dict[str, str]:
    return {
        "version": __version__,
        "commit": os.environ.get("APITEST_COMMIT") or git_commit(),
        "build_date": os.environ.get("APITEST_BUILD_DATE") or UNKNOWN,
        "python": platform.python_version(),
    }


def version_route(database: Database | None) -> Route:
    """``GET /version``: the build, and the backend of ``database`` (``None``: no database configured)."""

    async def version(request: Request) -> Response:
        return version_response(database)

    return Route("/version", version, methods=["GET"])


def version_response(database: Database | None) -> Response:
    body: dict[str, object] = {"name": "api-test", **build_info()}
    body["database"] = database.dialect if database is not None else "none"
    body["pid"] = os.getpid()
    return json_response(body, headers={"Cache-Control": "no-store"})
