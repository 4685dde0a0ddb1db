"""Each module must import on its own, first, in a fresh interpreter: ``apitest.endpoints`` imports every
group on import, so a module that a group imports and that imports ``apitest.endpoints`` back would only
work in the lucky order the app happens to use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = [
    "apitest.failures",
    "apitest.pipeline",
    "apitest.ratelimit",
    "apitest.idempotency",
    "apitest.attempts",
    "apitest.version",
    "apitest.middleware.body_limit",
    "apitest.middleware.connection",
    "apitest.endpoints.lab",
    "apitest.endpoints.lab_attempts",
    "apitest.endpoints.lab_basics",
    "apitest.endpoints.lab_faults",
    "apitest.endpoints.lab_limits",
    "apitest.endpoints.lab_orders",
    "apitest.endpoints.lab_respond",
    "apitest.endpoints.lab_support",
    "apitest.endpoints.lab_validation",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr.splitlines()[-1:]
