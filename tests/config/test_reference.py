"""docs/configuration.md is generated from the model; a stale copy fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from apitest.config import load_settings
from apitest.config.reference import format_duration, render, rows, write

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_committed_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "docs/configuration.md is stale: run `make config-docs`"


def test_check_mode_reports_stale_and_current(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "configuration.md"
    assert write(target, check=True) == 1
    assert "stale" in capsys.readouterr().err
    assert write(target) == 0
    assert write(target, check=True) == 0
    target.write_text(target.read_text() + "edited by hand\n")
    assert write(target, check=True) == 1


def test_every_key_is_documented_once() -> None:
    keys = [r.key for r in rows()]
    assert len(keys) == len(set(keys))
    text = render()
    for key in keys:
        assert f"| `{key}` |" in text
    for expected in ("server.shutdown.grace_period", "api_keys.file[].key", "metrics.require_auth", "oidc.issuer"):
        assert expected in keys


def test_secrets_are_flagged() -> None:
    secret = {r.key for r in rows() if r.secret}
    assert {
        "portal.cookie_secret",
        "oidc.client_secret",
        "database.url",
        "api_keys.file[].key",
        "bearer.tokens[].token",
    } <= secret
    assert "server.address" not in secret


SAMPLE = {"bool": "true", "int": "3", "float": "1.5", "duration": "2s", "string": "http://example.test"}


@pytest.mark.parametrize("row", [r for r in rows() if r.override != "—" and r.type in SAMPLE], ids=lambda r: r.key)
def test_override_column_names_a_working_variable(row) -> None:
    name = row.override.strip("`")
    value = SAMPLE[row.type]
    if row.key in ("server.address",):
        value = "127.0.0.1:9"
    env = {name: value}
    try:
        settings = load_settings(text="auth: {allow_anonymous: true}\n", environ=env)
    except Exception as exc:  # a validation rule may refuse the sample; the variable must still be recognised
        assert "unknown key" not in str(exc)
        return
    assert settings.meta.sources[row.key] == f"env {name}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (2, "2s"), (3600, "1h"), (600, "10m"), (0.2, "200ms"), (43200, "12h"), (1.5, "1500ms")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_cli_subcommand(tmp_path: Path) -> None:
    from apitest.cli import build_parser

    def main(argv: list[str]) -> int:  # the parser and the command, without cli.main's logging set-up
        args = build_parser().parse_args(argv)
        return int(args.func(args))

    target = tmp_path / "out.md"
    assert main(["config-docs", "--output", str(target)]) == 0
    assert main(["config-docs", "--output", str(target), "--check"]) == 0
    assert target.read_text() == render()
