"""`apitest doctor` on the command line: one line per check, the fix under failures, exit code 1 on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apitest.cli import build_parser
from tests.doctor.support import write_config


def main(argv: list[str]) -> int:
    """`apitest` without cli.main's process-wide logging set-up (it would outlive the test)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def test_text_output_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("APITEST_DEV_KEY", raising=False)
    path = write_config(
        tmp_path,
        {"api_keys": {"file": [{"name": "devkey", "key": "${APITEST_DEV_KEY}"}]}, "server": {"address": ":8080"}},
    )
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"apitest doctor: {path}"
    fail_line = next(i for i, line in enumerate(out) if line.startswith("FAIL  auth.credentials"))
    assert out[fail_line + 1].strip().startswith("fix: ")
    assert any(line.startswith("WARN  server.base_url") for line in out)
    assert any(line.startswith("PASS  config ") for line in out)
    assert any(line.startswith("SKIP  server ") for line in out)
    assert "1 failed" in out[-1]


def test_json_output_and_clean_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, {})
    assert main(["doctor", "--config", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["config"] == str(path)
    assert {"check": "config", "status": "pass", "message": f"{path} is valid", "fix": ""} in data["results"]
