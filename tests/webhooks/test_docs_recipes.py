"""The webhook recipes of docs/troubleshooting.md, run as written against the dev profile with the
documented webhook settings (backoff shortened so the recipes' sleeps are generous)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from apitest.app import create_app
from apitest.config import load_settings
from tests.support import live_server

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "troubleshooting.md"
KEY = "apitest_doc_recipe_key_0123456789"


def blocks() -> tuple[str, dict[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    setup = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert setup
    recipes = {
        m.group(1): "\n".join(line[2:] if line.startswith("  ") else line for line in m.group(2).splitlines())
        for m in re.finditer(r"<!-- recipe: ([a-z-]+) -->\n\s*```sh\n(.*?)\n\s*```", section, re.DOTALL)
    }
    return setup.group(1), recipes


def run(recipe: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", recipe],  # noqa: S607
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not (shutil.which("jq") and shutil.which("curl")):
        pytest.skip("the recipes use curl and jq")
    setup, _ = blocks()
    documented = dict(re.findall(r"(APITEST__[A-Z_]+)=(\S+)", setup))
    assert documented["APITEST__WEBHOOKS__ENABLED"] == "true"
    data = tmp_path_factory.mktemp("recipes")
    environ = {
        **documented,
        "APITEST__WEBHOOKS__BACKOFF_BASE": "100ms",
        "APITEST__WEBHOOKS__POLL_INTERVAL": "50ms",
        "APITEST__AUDIT__FLUSH_INTERVAL_MS": "20",
        "APITEST_DEV_KEY": KEY,
        "APITEST_DB_URL": f"sqlite+aiosqlite:///{data}/apitest.db",
    }
    settings = load_settings(ROOT / "configs" / "apitest.dev.yaml", environ=environ)
    secret = re.search(r"\bS=(\S+)", setup)
    assert secret
    with live_server(create_app(settings)) as live:
        yield {
            "PATH": os.environ["PATH"],
            "W": live.url,
            "H": f"X-API-Key: {KEY}",
            "S": secret.group(1),
            "APITEST_DEV_KEY": KEY,
        }


def test_not_received(server: dict[str, str]) -> None:
    out = run(blocks()[1]["not-received"], server)
    assert out[0] == "orders"
    assert out[1] == '{"error":"no active subscription takes event type \'order.shipped\'"}'
    assert out[2] == "false"
    assert out[3] == '{"error":"no active subscription takes event type \'order.created\'"}'
    assert out[4].startswith("dead 404 status 404 (not retried")


def test_dead_letter_and_redelivery(server: dict[str, str]) -> None:
    out = run(blocks()[1]["dead-letter"], server)
    assert out[0] == "dead after 3 attempts"
    assert (
        '"number":1,"status":503,"outcome":"retry"' in out[1] and '"number":3,"status":503,"outcome":"dead"' in out[1]
    )
    assert '"state":"pending"' in out[2]
    assert out[3].startswith("apitest_webhook_dead_letters_total ")


def test_signature_reasons(server: dict[str, str]) -> None:
    out = run(blocks()[1]["signature"], server)
    assert out == [
        "204",
        '{"error":"signature mismatch","signature_matches_reserialized":true}',
        "timestamp outside tolerance",
        "missing header",
    ]
