"""``apitest serve`` options reach the settings object only: the CLI no longer writes them back into the
environment for worker processes to re-read (workers get the validated object, see ``apitest.server``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import yaml

from apitest.cli import _load, build_parser


def test_serve_overrides_reach_the_settings_and_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APITEST__SERVER__ADDRESS", raising=False)
    monkeypatch.delenv("APITEST__SERVER__WORKERS", raising=False)
    config = tmp_path / "apitest.yaml"
    config.write_text(
        yaml.safe_dump({"server": {"address": "127.0.0.1:8080", "workers": 1}, "auth": {"allow_anonymous": True}})
    )
    before = dict(os.environ)
    args = build_parser().parse_args(
        ["serve", "--config", str(config), "--address", "127.0.0.1:18123", "--workers", "3"]
    )
    settings = _load(args)
    assert settings.server.address == "127.0.0.1:18123"
    assert settings.server.workers == 3
    assert dict(os.environ) == before


def test_an_override_does_not_leak_into_a_later_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APITEST__SERVER__WORKERS", raising=False)
    config = tmp_path / "apitest.yaml"
    config.write_text(yaml.safe_dump({"server": {"address": "127.0.0.1:8080"}, "auth": {"allow_anonymous": True}}))
    _load(argparse.Namespace(config=str(config), address=None, workers=4))
    again = _load(argparse.Namespace(config=str(config), address=None, workers=None))
    assert again.server.workers == 1
