"""The OIDC provider of ``make dev`` without containers: oidc-provider-mock, plus real PKCE.

oidc-provider-mock (a development dependency) issues RS256 ID tokens for any client id and redirect
URI. As shipped, its authorization-code grant neither accepts public clients (token endpoint auth
method ``none``) nor checks PKCE, so the portal's public PKCE client could not sign in. This module
swaps in a grant that stores the ``code_challenge`` with the code and verifies the
``code_verifier`` (RFC 7636, S256 and plain), and that accepts public clients, the way Keycloak treats
``api-test-portal``.

The swap relies on the mock's module layout (``oidc_provider_mock._app``); the devstack tests run a
complete sign-in through it, so a changed layout fails there first.

References: RFC 7636 section 4.6 (the server verifies the code verifier).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any


def pkce_provider_app(users: list[tuple[str, dict[str, Any]]]) -> Any:
    """A Flask app of oidc-provider-mock whose authorization-code grant enforces PKCE for public clients."""
    import authlib.deprecate  # installs Authlib's "always" filter first, so the one below wins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)  # the mock uses authlib.jose
        from authlib.oauth2.rfc7636 import CodeChallenge
        from oidc_provider_mock import User, _app

    @dataclass(kw_only=True, frozen=True)
    class PKCECode(_app.AuthorizationCode):  # type: ignore[misc]
        code_challenge: str | None = None
        code_challenge_method: str | None = None

    class PKCEGrant(_app.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

        def __init__(self, request: Any, server: Any) -> None:
            super().__init__(request, server)
            CodeChallenge(required=True)(self)

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            _app.storage.store_authorization_code(
                PKCECode(
                    code=code,
                    user_id=request.user.sub,
                    client_id=request.client.get_client_id(),
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )
            )

    original = _app.AuthorizationCodeGrant
    _app.AuthorizationCodeGrant = PKCEGrant  # read once, when the blueprint registers its grants
    try:
        return _app.app(user_claims=[User(sub=sub, claims=claims) for sub, claims in users], require_nonce=False)
    finally:
        _app.AuthorizationCodeGrant = original  # PKCEGrant subclasses it, so the mock's isinstance checks hold
