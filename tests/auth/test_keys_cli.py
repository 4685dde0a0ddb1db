from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from apitest.auth.keys_cli import parse_expires, parse_scopes
from apitest.cli import build_parser

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def run(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> str:
    path = tmp_path / "apitest.yaml"
    path.write_text(
        yaml.safe_dump(
            {"auth": {"allow_anonymous": True}, "api_keys": {"db": {"enabled": True}}, "database": {"url": sqlite_url}}
        )
    )
    return str(path)


def test_create_list_revoke(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "create", "--config", config, "--name", "ci", "--scopes", "read,write", "--expires", "30d") == 0
    out, err = capsys.readouterr()
    plaintext = out.strip()
    assert plaintext.startswith("at_") and len(plaintext) == 46 and "\n" not in plaintext
    assert f"created api key 'ci' ({plaintext[:8]}…), scopes read write, expires" in err
    assert "shown only this once" in err

    assert run("keys", "list", "--config", config) == 0
    out, _ = capsys.readouterr()
    header, row = out.strip().splitlines()
    assert header.split()[:4] == ["NAME", "PREFIX", "STATUS", "SCOPES"]
    assert row.split()[:4] == ["ci", plaintext[:8], "active", "read,write"]
    assert plaintext not in out

    assert run("keys", "revoke", "--config", config, "ci") == 0
    assert run("keys", "revoke", "--config", config, "ci") == 1
    _, err = capsys.readouterr()
    assert "no active api key named 'ci'" in err
    assert run("keys", "list", "--config", config, "--json") == 0
    listed = json.loads(capsys.readouterr().out)["keys"]
    assert [(k["name"], k["status"]) for k in listed] == [("ci", "revoked")]


def test_errors_are_one_line(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "create", "--config", config, "--name", "x", "--expires", "soon") == 1
    assert "--expires 'soon'" in capsys.readouterr().err
    assert run("keys", "create", "--config", config, "--name", "x", "--scopes", 'a"b') == 1
    assert "not a valid scope" in capsys.readouterr().err
    assert run("keys", "create", "--config", config, "--name", "x") == 0
    assert run("keys", "create", "--config", config, "--name", "x") == 1
    assert 'name "x" is already used by a database key' in capsys.readouterr().err


def test_the_name_of_a_file_key_is_refused(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.yaml"
    settings = {"api_keys": {"file": [{"name": "ops", "key": "o" * 20}], "db": {"enabled": True}}}
    path.write_text(yaml.safe_dump({**settings, "database": {"url": sqlite_url}}))
    assert run("keys", "create", "--config", str(path), "--name", "ops") == 1
    assert 'name "ops" is already used by a file key' in capsys.readouterr().err


def test_needs_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("auth: {allow_anonymous: true}\n")
    assert run("keys", "list", "--config", str(path)) == 1
    assert "database.url is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW + timedelta(days=30)),
        ("12h", NOW + timedelta(hours=12)),
        ("90m", NOW + timedelta(minutes=90)),
        ("2w", NOW + timedelta(weeks=2)),
        ("2027-06-01T00:00:00Z", datetime(2027, 6, 1, tzinfo=UTC)),
        ("2027-06-01T02:00:00+02:00", datetime(2027, 6, 1, tzinfo=UTC)),
    ],
)
def test_parse_expires(text: str, expected: datetime) -> None:
    assert parse_expires(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "30", "1y", "2027-06-01T00:00:00", "tomorrow"])
def test_parse_expires_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_expires(text, NOW)


def test_parse_scopes() -> None:
    assert parse_scopes(["read,write", "admin  audit", ""]) == ["read", "write", "admin", "audit"]
