"""The ordered inbound chain: API key → OIDC JWT (only when ``oidc.enabled``) → static bearer →
anonymous (only when ``auth.allow_anonymous`` and no usable credential was presented; an
``Authorization`` header of another scheme, such as ``Basic``, is no credential, as in the original).

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
from apitest.auth.identity import ANONYMOUS, Identity
from apitest.auth.oidc import OIDCAuthenticator
from apitest.services import Services


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


def build_chain(services: Services) -> AuthChain:
    settings = services.settings
    authenticators: list[Authenticator] = [ApiKeyAuthenticator(settings.api_keys, services.key_store)]
    if settings.oidc.enabled:
        authenticators.append(OIDCAuthenticator(services.oidc, settings.oidc.scopes_claim))
    authenticators.append(BearerAuthenticator(settings.bearer.tokens, oidc_enabled=settings.oidc.enabled))
    return AuthChain(authenticators, allow_anonymous=settings.auth.allow_anonymous)


class ChainProvider:
    """The chain over the backends the lifespan started; rebuilt when they change (a new lifespan)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._chain: AuthChain | None = None
        self._backends: tuple[object, object] = (None, None)

    def get(self) -> AuthChain:
        backends = (self.services.key_store, self.services.oidc)
        if self._chain is None or backends[0] is not self._backends[0] or backends[1] is not self._backends[1]:
            self._chain = build_chain(self.services)
            self._backends = backends
        return self._chain
