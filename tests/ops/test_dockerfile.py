"""Static checks of the image recipe: what a build without an engine here can still prove."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)  # join continuation lines
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            rows.append((op.upper(), rest.strip()))
    return rows


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for op, rest in instructions():
        if op == "FROM":
            out.append([])
        if out:
            out[-1].append((op, rest))
    return out


def test_multi_stage_on_python_311_slim() -> None:
    args = dict(rest.split("=", 1) for op, rest in instructions() if op == "ARG" and "=" in rest)
    froms = [rest for op, rest in instructions() if op == "FROM"]
    assert len(froms) == 2
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    assert any("pip wheel" in rest for op, rest in stages()[0] if op == "RUN")


def test_runtime_is_non_root_with_healthcheck_and_default_command() -> None:
    runtime = stages()[-1]
    users = [rest for op, rest in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8080") in runtime
    (health,) = [rest for op, rest in runtime if op == "HEALTHCHECK"]
    assert health.endswith('CMD ["apitest", "healthcheck"]')
    (cmd,) = [rest for op, rest in runtime if op == "CMD"]
    assert cmd == '["apitest", "serve", "--config", "/etc/apitest/apitest.yaml"]'


def test_runtime_has_migrations_configs_and_templates_where_the_app_looks() -> None:
    runtime = stages()[-1]
    copies = [rest.split() for op, rest in runtime if op == "COPY" and "--from" not in rest]
    workdir = [rest for op, rest in runtime if op == "WORKDIR"][-1]
    copied = {src: (dst if dst.startswith("/") else f"{workdir}/{dst.removeprefix('./')}") for src, dst in copies}
    assert copied["migrations"] == "/app/migrations"
    assert copied["configs"] == "/app/configs"
    assert copied["templates"] == "/app/templates"
    assert copied["configs/apitest.example.yaml"] == "/etc/apitest/apitest.yaml"
    env = " ".join(rest for op, rest in runtime if op == "ENV")
    assert "APITEST_MIGRATIONS_DIR=/app/migrations" in env  # apitest/db/engine.py migrations_dir()
    assert "APITEST_TEMPLATES_DIR=/app/templates" in env  # apitest/portal/render.py


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.split("/")[0], pat):
                result = not negate
        return result

    for needed in ("pyproject.toml", "README.md", "apitest/app.py", "migrations/env.py", "configs/apitest.live.yaml"):
        assert not ignored(needed), needed
    for dropped in (".venv", ".git", "tests/conftest.py", ".env.dev", "data"):
        assert ignored(dropped), dropped
