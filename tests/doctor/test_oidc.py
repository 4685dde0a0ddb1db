"""apitest doctor against an IdP: discovery, issuer byte for byte, clock skew, JWKS usability."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import pytest

from tests.doctor.support import GOOD_SECRET, FakeIdP, diagnose_config, ec_jwk, find, rsa_jwk


async def run(tmp_path: Path, idp: FakeIdP, **oidc: object):
    return await diagnose_config(tmp_path, idp.oidc_config(**oidc), transport=idp.transport())


async def test_healthy_idp_passes(tmp_path: Path) -> None:
    idp = FakeIdP()
    _, results, code = await run(tmp_path, idp)
    assert code == 0
    for check in ("oidc.discovery", "oidc.issuer", "oidc.clock", "oidc.jwks", "oidc.audience"):
        assert [r.status for r in find(results, check)] == ["pass"], find(results, check)
    assert idp.requests[0] == "https://idp.test/realms/api-test/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("configured", "advertised", "hint"),
    [
        ("https://idp.test/realms/api-test/", "https://idp.test/realms/api-test", "trailing slash"),
        ("https://idp.test/realms/api-test", "https://idp.test/realms/api-test/", "trailing slash"),
        ("https://IDP.test/realms/api-test", "https://idp.test/realms/api-test", "letter case"),
        ("https://idp.test/realms/api-test", "http://keycloak:8080/realms/api-test", ""),
    ],
)
async def test_issuer_must_match_byte_for_byte(tmp_path: Path, configured: str, advertised: str, hint: str) -> None:
    idp = FakeIdP(issuer=configured, advertised_issuer=advertised)
    _, results, code = await run(tmp_path, idp)
    (issuer,) = find(results, "oidc.issuer")
    assert issuer.status == "fail"
    assert repr(advertised) in issuer.message and hint in issuer.message
    assert issuer.fix == f"set oidc.issuer: {advertised!r}"
    assert code == 1


@pytest.mark.parametrize(
    ("skew", "status", "needle"),
    [
        (0.0, "pass", "allowed 30s"),
        (3.0, "pass", "behind the IdP"),
        (-12.0, "warn", "s ahead of the IdP"),
        (120.0, "fail", "tokens look expired or not yet valid"),
        (-45.0, "fail", "beyond oidc.clock_skew_seconds=30"),
    ],
)
async def test_clock_skew_against_the_idp_date_header(tmp_path: Path, skew: float, status: str, needle: str) -> None:
    idp = FakeIdP(skew=skew)
    _, results, _ = await run(tmp_path, idp)
    (clock,) = find(results, "oidc.clock")
    assert clock.status == status and needle in clock.message, clock


async def test_clock_skew_allowance_is_configurable(tmp_path: Path) -> None:
    _, results, _ = await run(tmp_path, FakeIdP(skew=120.0), clock_skew_seconds=300)
    assert find(results, "oidc.clock")[0].status == "warn"


async def test_missing_date_header_is_a_warning(tmp_path: Path) -> None:
    _, results, _ = await run(tmp_path, FakeIdP(send_date=False))
    assert find(results, "oidc.clock")[0].status == "warn"


@pytest.mark.parametrize(
    ("keys", "algorithms", "status"),
    [
        ([rsa_jwk(alg="RS256", use="sig")], ["RS256"], "pass"),
        ([rsa_jwk()], ["RS384"], "pass"),  # no alg on the key: any RSA algorithm fits
        ([ec_jwk("P-256", alg="ES256")], ["RS256", "RS384"], "fail"),  # EC key, RSA algorithms only
        ([ec_jwk("P-384")], ["ES256"], "fail"),  # wrong curve for ES256
        ([ec_jwk("P-256")], ["ES256"], "pass"),
        ([rsa_jwk(alg="RS256", use="enc")], ["RS256"], "fail"),  # an encryption key cannot verify
        ([rsa_jwk(alg="RS512")], ["RS256"], "fail"),  # the key is pinned to another algorithm
        ([{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}], ["RS256"], "fail"),
        ([], ["RS256"], "fail"),
    ],
)
async def test_jwks_needs_a_key_for_the_configured_algorithms(
    tmp_path: Path, keys: list[dict[str, object]], algorithms: list[str], status: str
) -> None:
    _, results, _ = await run(tmp_path, FakeIdP(keys=keys), algorithms=algorithms)
    jwks = find(results, "oidc.jwks")
    assert jwks[0].status == status, jwks
    if status == "fail":
        assert "oidc.algorithms" in jwks[0].fix


async def test_unreachable_discovery_fails(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    path_overrides = FakeIdP().oidc_config()
    _, results, code = await diagnose_config(tmp_path, path_overrides, transport=httpx.MockTransport(refuse))
    (disc,) = find(results, "oidc.discovery")
    assert disc.status == "fail" and "ConnectError" in disc.message
    assert "inside a container" in disc.fix
    assert code == 1
    assert not find(results, "oidc.issuer")  # nothing to compare against


async def test_discovery_404_hints_at_the_issuer_path(tmp_path: Path) -> None:
    _, results, _ = await run(tmp_path, FakeIdP(discovery_status=404))
    (disc,) = find(results, "oidc.discovery")
    assert disc.status == "fail" and "answered 404" in disc.message


async def test_empty_audience_warns(tmp_path: Path) -> None:
    _, results, _ = await run(tmp_path, FakeIdP(), audience="")
    assert find(results, "oidc.audience")[0].status == "warn"


async def test_portal_client_must_be_allowed(tmp_path: Path) -> None:
    idp = FakeIdP()
    overrides = idp.oidc_config(client_id="api-test-portal", allowed_clients=["plexara-cc"])
    overrides["portal"] = {"enabled": True, "cookie_secret": GOOD_SECRET}
    _, results, code = await diagnose_config(tmp_path, overrides, transport=idp.transport())
    (client,) = find(results, "oidc.portal_client")
    assert client.status == "fail" and "not in oidc.allowed_clients" in client.message
    overrides["oidc"]["allowed_clients"] = ["plexara-cc", "api-test-portal"]
    _, results, _ = await diagnose_config(tmp_path, overrides, transport=idp.transport())
    (client,) = find(results, "oidc.portal_client")
    assert client.status == "pass"
    assert "http://localhost:8080/portal/auth/callback" in client.message


async def test_a_real_provider_with_a_trailing_slash_mismatch(tmp_path: Path) -> None:
    """oidc-provider-mock on loopback: its issuer has no trailing slash; a config with one is caught."""
    import authlib.deprecate  # installs Authlib's "always" filter first, so the one below wins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)  # the mock imports authlib.jose
        from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        issuer = f"http://localhost:{server.server_port}"
        overrides = {"oidc": {"enabled": True, "issuer": issuer + "/", "audience": "api-test"}}
        _, results, code = await diagnose_config(tmp_path, overrides)
        (check,) = find(results, "oidc.issuer")
        assert check.status == "fail" and "trailing slash" in check.message
        assert code == 1
        overrides["oidc"]["issuer"] = issuer
        _, results, _ = await diagnose_config(tmp_path, overrides)
        assert [r.status for r in find(results, "oidc.issuer")] == ["pass"]
        assert [r.status for r in find(results, "oidc.jwks")] == ["pass"]
        assert [r.status for r in find(results, "oidc.clock")] == ["pass"]
