"""docs/architecture.md: the floors it lists are the import-linter contract, and its "Add an endpoint group"
recipe, followed step by step on a copy of the package, gives a group that is served, documented in
OpenAPI and switchable in the configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"


def recipe_blocks() -> list[str]:
    """The fenced Python blocks of the "Add an endpoint group" recipe, in order."""
    text = DOC.read_text()
    section = text.split("### Add an endpoint group", 1)[1].split("\n### ", 1)[0]
    return [re.sub(r"^   ", "", block, flags=re.M) for block in re.findall(r"```python\n(.*?)```", section, re.S)]


def test_the_floors_are_the_contract() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in config if c["type"] == "layers"]
    section = DOC.read_text().split("## The floors", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = [re.findall(r"`([^`]+)`", re.split(r"(?<!\\)\|", row)[1]) for row in rows]
    assert [[name.strip() for name in layer.split("|")] for layer in layers] == documented


def test_adding_an_endpoint_group_by_the_recipe(tmp_path: Path) -> None:
    module, group_line = recipe_blocks()
    package = tmp_path / "apitest"
    shutil.copytree(REPO / "apitest", package, ignore=shutil.ignore_patterns("__pycache__"))
    # Step 1: the module.
    (package / "endpoints" / "greeting.py").write_text(module)
    # Step 2: the group, declared in the registry.
    registry = package / "registry.py"
    anchor = '    Group("httpbin", "httpbin (go-httpbin parity)"),\n'
    assert anchor in registry.read_text()
    registry.write_text(registry.read_text().replace(anchor, anchor + "    " + group_line.strip() + "\n"))
    # Step 3: the route table imports it and lists it in _MODULES.
    table = package / "endpoints" / "__init__.py"
    text = table.read_text()
    text = text.replace("from apitest.endpoints import (\n", "from apitest.endpoints import (\n    greeting,\n", 1)
    assert "lab, httpbin)" in text
    table.write_text(text.replace("lab, httpbin)", "lab, httpbin, greeting)", 1))

    script = """
import json
from starlette.testclient import TestClient
from apitest.app import create_app
from apitest.config import load_settings
from apitest.config.reference import render

settings = load_settings(text="{auth: {allow_anonymous: true}, endpoints: {greeting: {enabled: true}}}", environ={})
with TestClient(create_app(settings)) as client:
    answer = client.get("/v1/greeting")
    document = client.get("/openapi.json").json()
off = load_settings(text="{auth: {allow_anonymous: true}, endpoints: {identity: {enabled: true}}}", environ={})
print(json.dumps({
    "status": answer.status_code,
    "body": answer.json(),
    "documented": "/v1/greeting" in document["paths"],
    "groups": settings.enabled_groups(),
    "off": off.enabled_groups(),
    "reference": "endpoints.greeting.enabled" in render(),
}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["body"] == {"greeting": "hello"}
    assert result["documented"] and result["groups"] == ["greeting"] and result["off"] == ["identity"]
    assert result["reference"]
