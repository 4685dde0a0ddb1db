"""The ordered inbound chain: API key → OIDC JWT (only when ``oidc.enabled``) → static bearer →
anonymous (only when ``auth.allow_anonymous`` and no usable credential was presented; an
``Authorization`` header of another scheme, such as ``Basic``, is no credential).

The API-key and static-bearer authenticators are always in the chain, even with nothing configured,
so a presented credential nobody recognises is a 401 and never slips through as anonymous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from apitest.auth.apikeys import ApiKeyAuthenticator
from apitest.auth.base import Authenticator, Invalid
from apitest.auth.bearer import BearerAuthenticator
from apitest.auth.credentials import Presented
from apitest.auth.keystore import KeyStore
from apitest.auth.oidc import OIDCAuthenticator, OIDCValidator
from apitest.config import Settings
from apitest.identity import ANONYMOUS, Identity


@dataclass(frozen=True)
class Missing:
    """No credential was presented and anonymous access is off."""

    reason: str


class AuthChain:
    def __init__(self, authenticators: Sequence[Authenticator], *, allow_anonymous: bool) -> None:
        self.authenticators = list(authenticators)
        self.allow_anonymous = allow_anonymous

    async def resolve(self, presented: Presented) -> Identity | Invalid | Missing:
        """Ask each authenticator in order; raises :class:`~apitest.auth.base.AuthBackendError`."""
        for authenticator in self.authenticators:
            result = await authenticator.authenticate(presented)
            if result is not None:
                return result
        if presented.any:
            return Invalid("unknown credential", "no authenticator accepts this credential")
        if self.allow_anonymous:
            return ANONYMOUS
        return Missing(presented.absence_reason())


def build_chain(settings: Settings, key_store: KeyStore | None = None, oidc: OIDCValidator | None = None) -> AuthChain:
    """The chain of this configuration over the key store and OIDC validator ``create_app`` built (``None``
    when ``api_keys.db.enabled`` / ``oidc.enabled`` is off)."""
    authenticators: list[Authenticator] = [ApiKeyAuthenticator(settings.api_keys, key_store)]
    if settings.oidc.enabled:
        authenticators.append(OIDCAuthenticator(oidc, settings.oidc.scopes_claim))
    authenticators.append(BearerAuthenticator(settings.bearer.tokens, oidc_enabled=settings.oidc.enabled))
    return AuthChain(authenticators, allow_anonymous=settings.auth.allow_anonymous)
