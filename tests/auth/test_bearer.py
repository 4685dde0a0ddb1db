from __future__ import annotations

from apitest.auth.base import Invalid
from apitest.auth.bearer import BearerAuthenticator
from apitest.auth.credentials import Presented
from apitest.config.model import BearerToken
from apitest.identity import Identity
from tests.auth.idp import unsigned

TOKENS = [BearerToken(name="a", token="token-a", scopes=["read"]), BearerToken(name="empty", token="")]


async def test_bearer() -> None:
    auth = BearerAuthenticator(TOKENS, oidc_enabled=False)
    assert await auth.authenticate(Presented()) is None
    assert await auth.authenticate(Presented(api_key="token-a")) is None
    assert await auth.authenticate(Presented(bearer="token-a")) == Identity(
        subject="a", auth_type="bearer", key_name="a", scopes=("read",)
    )
    assert await auth.authenticate(Presented(bearer="token-b")) == Invalid(
        "unknown token", "the bearer token matches no configured token"
    )


async def test_a_jwt_without_oidc_says_so() -> None:
    jwt = unsigned({"alg": "RS256"}, {"sub": "x"}, "sig")
    result = await BearerAuthenticator(TOKENS, oidc_enabled=False).authenticate(Presented(bearer=jwt))
    assert result == Invalid("unknown token", "the bearer token is a JWT but oidc.enabled is false")
