"""Shipped secrets: derived from configs/, refused outside the dev profile with one line per key."""

from __future__ import annotations

import glob
from typing import Any

import pytest
import yaml

from apitest.config import ConfigError, load_settings
from apitest.config.shipped import SHIPPED_SECRETS, is_dev_profile, secrets_in_profile
from tests.support import make_settings

STRONG = "a-real-secret-of-our-own-0123456789"


def test_the_constant_matches_the_shipped_profiles() -> None:
    found: set[str] = set()
    for path in sorted(glob.glob("configs/*.yaml")):
        with open(path, encoding="utf-8") as fh:
            found |= secrets_in_profile(yaml.safe_load(fh))
    assert found, "no secret found in configs/: the extraction is broken"
    assert found == SHIPPED_SECRETS, f"update SHIPPED_SECRETS in apitest/config/shipped.py to {sorted(found)}"


def test_extraction_reads_literals_and_defaults_of_secret_keys_only() -> None:
    profile = {
        "server": {"name": "${NAME:-not-a-secret}"},
        "api_keys": {"file": [{"name": "k", "key": "${K:-key-default}"}, {"name": "l", "key": "literal-key"}]},
        "bearer": {"tokens": [{"name": "b", "token": "${B}"}]},
        "portal": {"cookie_secret": "prefix-${C:-cookie-default}"},
        "database": {"url": "postgresql+asyncpg://u:p@h/db"},
    }
    assert secrets_in_profile(profile) == {"key-default", "literal-key", "cookie-default"}


def overrides(address: str, anonymous: bool, **secrets: Any) -> dict[str, Any]:
    return {
        "server": {"address": address},
        "api_keys": {"file": [{"name": "k", "key": secrets.get("key", STRONG)}]},
        "bearer": {"tokens": [{"name": "b", "token": secrets.get("token", STRONG)}]},
        "portal": {"enabled": True, "allow_anonymous": anonymous, "cookie_secret": secrets.get("cookie", STRONG)},
    }


@pytest.mark.parametrize(
    ("address", "anonymous", "dev"),
    [
        ("127.0.0.1:8080", True, True),
        ("[::1]:8080", True, True),
        ("localhost:8080", True, True),
        (":8080", True, False),
        ("0.0.0.0:8080", True, False),
        ("192.168.1.5:8080", True, False),
        ("127.0.0.1:8080", False, False),
    ],
)
def test_dev_profile(address: str, anonymous: bool, dev: bool) -> None:
    assert is_dev_profile(make_settings(overrides(address, anonymous))) is dev


@pytest.mark.parametrize(
    ("secret", "line"),
    [
        ({"key": "devkey-please-change"}, "api_keys.file[0].key is a default shipped in configs/"),
        ({"token": "bearer-please-change"}, "bearer.tokens[0].token is a default shipped in configs/"),
        ({"cookie": "change-me-to-a-long-random-secret"}, "portal.cookie_secret is a default shipped in configs/"),
        ({"cookie": "dev-only-cookie-secret-change-me"}, "portal.cookie_secret is a default shipped in configs/"),
    ],
)
def test_a_shipped_secret_is_refused_outside_dev(secret: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(overrides(":8080", False, **secret))
    (problem,) = caught.value.problems
    assert problem.startswith(line)
    assert "APITEST__" in problem or "config file" in problem
    assert secret.popitem()[1] not in problem  # known, but still not repeated in logs
    make_settings(overrides("127.0.0.1:8080", True, **secret))  # the dev profile accepts it


def test_the_message_names_the_variable_to_set() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings("configs/apitest.example.yaml", environ={})
    problems = "\n".join(caught.value.problems)
    for var in ("APITEST_DEV_KEY", "APITEST_DEV_BEARER", "APITEST_COOKIE_SECRET"):
        assert f"set {var} to a random value" in problems
    env = {"APITEST_DEV_KEY": STRONG, "APITEST_DEV_BEARER": STRONG + "b", "APITEST_COOKIE_SECRET": STRONG + "c"}
    assert load_settings("configs/apitest.example.yaml", environ=env).portal.cookie_secret == STRONG + "c"


def test_the_dev_profile_still_starts_with_its_defaults_on_loopback_only() -> None:
    assert load_settings("configs/apitest.dev.yaml", environ={}).portal.allow_anonymous
    with pytest.raises(ConfigError, match="portal.cookie_secret is a default shipped"):
        load_settings("configs/apitest.dev.yaml", environ={"APITEST_ADDRESS": "0.0.0.0:8080"})


def test_an_empty_cookie_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="portal.cookie_secret is required"):
        make_settings(overrides(":8080", False, cookie=""))
