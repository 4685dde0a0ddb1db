"""The default configuration file of the ``apitest`` commands (``--config``)."""

from __future__ import annotations

DEFAULT_CONFIG = "configs/apitest.dev.yaml"
