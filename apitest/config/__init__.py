"""Typed settings: the model, the YAML loader and validation."""

from apitest.config.effective import flatten, mask_database_url, masked_dict
from apitest.config.loader import ConfigError, default_settings, interpolate, load_settings, parse_duration, source_of
from apitest.config.model import DEFAULT_REDACT_KEYS, GROUPS, Settings

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "GROUPS",
    "ConfigError",
    "Settings",
    "default_settings",
    "flatten",
    "interpolate",
    "load_settings",
    "mask_database_url",
    "masked_dict",
    "parse_duration",
    "source_of",
]
