"""The ``--config`` option every ``apitest`` subcommand that reads a profile shares, and its default."""

from __future__ import annotations

import argparse
import os

DEFAULT_CONFIG = "configs/apitest.dev.yaml"
CONFIG_ENV = "APITEST_CONFIG"  # overrides DEFAULT_CONFIG as the default of --config


def add_config_option(parser: argparse.ArgumentParser, help: str = "") -> None:
    """``--config FILE`` / ``-c FILE``, defaulting to ``$APITEST_CONFIG`` or :data:`DEFAULT_CONFIG`."""
    parser.add_argument(
        "--config",
        "-c",
        default=os.environ.get(CONFIG_ENV, DEFAULT_CONFIG),
        help=help or f"YAML profile (default: ${CONFIG_ENV} or {DEFAULT_CONFIG})",
    )
