"""Static bearer tokens from the configuration, compared in constant time against every entry.

This authenticator runs last, after OIDC, so it sees only bearer tokens that are not JWT-shaped (or
every bearer token when OIDC is off). A presented token that matches nothing is an invalid credential.
"""

from __future__ import annotations

from apitest.auth.base import Invalid, Result, SecretTable
from apitest.auth.credentials import Presented
from apitest.auth.jwtshape import is_jwt_shaped
from apitest.config.model import BearerToken
from apitest.identity import Identity


class BearerAuthenticator:
    name = "bearer"

    def __init__(self, tokens: list[BearerToken], *, oidc_enabled: bool) -> None:
        self.tokens = SecretTable(
            (t.token, Identity(subject=t.name, auth_type="bearer", key_name=t.name, scopes=tuple(t.scopes)))
            for t in tokens
        )
        self.oidc_enabled = oidc_enabled

    async def authenticate(self, presented: Presented) -> Result:
        if not presented.bearer:
            return None
        found = self.tokens.match(presented.bearer)
        if found is not None:
            return found
        if not self.oidc_enabled and is_jwt_shaped(presented.bearer):
            return Invalid("unknown token", "the bearer token is a JWT but oidc.enabled is false")
        return Invalid("unknown token", "the bearer token matches no configured token")
