"""The shared ``--config`` option: one declaration for every subcommand that reads a profile."""

from __future__ import annotations

import argparse

import pytest

from apitest.cli import build_parser
from apitest.config.option import DEFAULT_CONFIG, add_config_option


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_option(parser)
    return parser.parse_args(argv)


def test_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APITEST_CONFIG", raising=False)
    assert parse([]).config == DEFAULT_CONFIG
    monkeypatch.setenv("APITEST_CONFIG", "configs/other.yaml")
    assert parse([]).config == "configs/other.yaml"
    assert parse(["-c", "x.yaml"]).config == "x.yaml"


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["check"],
        ["migrate"],
        ["doctor"],
        ["keys", "list"],
        ["tls", "init"],
    ],
)
def test_every_subcommand_reading_a_profile_has_it(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APITEST_CONFIG", "from-env.yaml")
    assert build_parser().parse_args(argv).config == "from-env.yaml"
    assert build_parser().parse_args([*argv, "--config", "given.yaml"]).config == "given.yaml"
