"""Every ``curl`` recipe of docs/httpbin.md runs against a real server and prints what the doc says.

A recipe is a line starting with ``curl`` in a ``sh`` block, followed by its expected output as ``# ``
lines. ``localhost:8080`` is the live server (and is written back into the output before comparing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer, live_server, make_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "httpbin.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def recipes() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for block in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("curl "):
                continue
            expected = []
            for follow in lines[i + 1 :]:
                if not follow.startswith("# "):
                    break
                expected.append(follow[2:])
            out.append((line, "\n".join(expected)))
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(make_app(groups=["httpbin", "data"])) as running:
        yield running


def test_the_doc_has_recipes() -> None:
    assert len(recipes()) >= 15
    assert all(expected for _, expected in recipes()), "every recipe shows its output"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(("command", "expected"), recipes())
def test_recipe(server: LiveServer, command: str, expected: str) -> None:
    address = f"127.0.0.1:{server.port}"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.replace("localhost:8080", address)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.replace(address, "localhost:8080").rstrip("\n") == expected
