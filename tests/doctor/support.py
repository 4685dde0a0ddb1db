"""Helpers for the doctor tests: config files from dicts, a fake IdP on httpx.MockTransport."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from apitest.doctor import Result, diagnose
from apitest.doctor.core import Context, exit_code
from tests.support import deep_merge

GOOD_SECRET = "k" * 48
BASE: dict[str, Any] = {
    "server": {"address": "127.0.0.1:8080"},
    "api_keys": {"file": [{"name": "ops", "key": "doctor-test-key-0123456789"}]},
}


def write_config(tmp_path: Path, overrides: dict[str, Any], name: str = "apitest.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(deep_merge(BASE, overrides)))
    return path


async def diagnose_config(
    tmp_path: Path,
    overrides: dict[str, Any],
    environ: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[Context, list[Result], int]:
    path = write_config(tmp_path, overrides)
    ctx, results = await diagnose(str(path), environ=environ or {}, **kwargs)
    return ctx, results, exit_code(results)


def find(results: list[Result], check: str) -> list[Result]:
    return [r for r in results if r.check == check]


def statuses(results: list[Result]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in results:
        out.setdefault(r.check, []).append(r.status)
    return out


def rsa_jwk(**extra: Any) -> dict[str, Any]:
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048).as_dict(private=False)
    return {**key, "kid": "rsa1", **extra}


def ec_jwk(curve: str = "P-256", **extra: Any) -> dict[str, Any]:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key(curve).as_dict(private=False)
    return {**key, "kid": "ec1", **extra}


@dataclass
class FakeIdP:
    """Discovery and JWKS answered in-process; every knob a misconfigured IdP can turn."""

    issuer: str = "https://idp.test/realms/api-test"
    advertised_issuer: str | None = None  # what discovery claims; defaults to ``issuer``
    keys: list[dict[str, Any]] = field(default_factory=lambda: [rsa_jwk(alg="RS256", use="sig")])
    skew: float = 0.0  # seconds the IdP's clock is ahead of ours
    send_date: bool = True
    discovery_status: int = 200
    clock: Callable[[], float] | None = None
    requests: list[str] = field(default_factory=list)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def handler(self, request: httpx.Request) -> httpx.Response:
        import time

        url = str(request.url)
        self.requests.append(url)
        now = (self.clock or time.time)() + self.skew
        headers = {"Date": email.utils.formatdate(now, usegmt=True)} if self.send_date else {}
        base = self.issuer.rstrip("/")
        if request.url == httpx.URL(self.discovery_url):
            if self.discovery_status != 200:
                return httpx.Response(self.discovery_status, headers=headers, text="not found")
            doc = {
                "issuer": self.advertised_issuer if self.advertised_issuer is not None else self.issuer,
                "authorization_endpoint": f"{base}/protocol/openid-connect/auth",
                "token_endpoint": f"{base}/protocol/openid-connect/token",
                "jwks_uri": f"{base}/protocol/openid-connect/certs",
                "id_token_signing_alg_values_supported": sorted({k.get("alg", "RS256") for k in self.keys}),
            }
            return httpx.Response(200, headers=headers, content=json.dumps(doc).encode())
        if request.url == httpx.URL(f"{base}/protocol/openid-connect/certs"):
            return httpx.Response(200, headers=headers, json={"keys": self.keys})
        return httpx.Response(404, headers=headers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def oidc_config(self, **extra: Any) -> dict[str, Any]:
        return {"oidc": {"enabled": True, "issuer": self.issuer, "audience": "api-test", **extra}}
