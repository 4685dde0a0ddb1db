"""The harness's own rules (no gateway needed: part of `make test`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateways import harness


def test_a_missing_gateway_is_a_visible_skip_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(harness.BINARIES, "nginx", "/nonexistent/nginx")
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nginx is not installed"):
        harness.require("nginx")


def test_a_missing_gateway_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(harness.BINARIES, "caddy", "/nonexistent/caddy")
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="caddy is not installed"):
        harness.require("caddy")


def test_snippets_get_this_runs_addresses(tmp_path: Path) -> None:
    snippet = "listen 127.0.0.1:9000; proxy_pass http://127.0.0.1:8080; proxy_cache_path /var/cache/apitest-gateway;"
    local = harness.localize(snippet, "127.0.0.1:5555", 6666, tmp_path)
    assert local == f"listen 127.0.0.1:6666; proxy_pass http://127.0.0.1:5555; proxy_cache_path {tmp_path}/cache;"
    assert harness.localize("http://:9000 {", "x", 7, tmp_path) == "http://:7 {"
