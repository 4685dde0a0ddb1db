"""Who a request was made by, as resolved by the inbound chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AUTH_TYPES = ("anonymous", "apikey", "bearer", "oidc")


@dataclass(frozen=True)
class Identity:
    subject: str
    auth_type: str  # one of AUTH_TYPES
    key_name: str = ""
    email: str = ""
    scopes: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)

    def whoami(self) -> dict[str, Any]:
        """The ``/v1/whoami`` body: fields in a fixed order (docs/endpoints.md), empty ones omitted."""
        body: dict[str, Any] = {"subject": self.subject}
        if self.email:
            body["email"] = self.email
        body["auth_type"] = self.auth_type
        if self.key_name:
            body["key_name"] = self.key_name
        if self.scopes:
            body["scopes"] = list(self.scopes)
        if self.claims:
            body["claims"] = self.claims
        return body


ANONYMOUS = Identity(subject="", auth_type="anonymous")
