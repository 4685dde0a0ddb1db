"""API keys from the configured header (else query parameter): file keys first, then database keys.

File keys are compared in constant time against every entry. A value shaped like a database key
(``at_`` + 43 characters) that matches no file key is looked up in the key store. A presented key that
matches nothing is an invalid credential.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from apitest.auth.base import AuthBackendError, Invalid, Result, SecretTable, describe
from apitest.auth.credentials import Presented
from apitest.auth.keystore import KeyStore, looks_like_db_key
from apitest.config.model import APIKeysSettings
from apitest.identity import Identity


class ApiKeyAuthenticator:
    name = "apikey"

    def __init__(self, settings: APIKeysSettings, store: KeyStore | None) -> None:
        self.file = SecretTable(
            (k.key, Identity(subject=k.name, auth_type="apikey", key_name=k.name, scopes=tuple(k.scopes)))
            for k in settings.file
        )
        self.db_enabled = settings.db.enabled
        self.store = store
        self.header_name = settings.header_name
        self.query_name = settings.query_param_name

    async def authenticate(self, presented: Presented) -> Result:
        if not presented.api_key:
            return None
        found = self.file.match(presented.api_key)
        if found is not None:
            return found
        if self.db_enabled:
            if self.store is None:
                if looks_like_db_key(presented.api_key):
                    raise AuthBackendError("api key store is not started")
            else:
                try:
                    stored = await self.store.authenticate(presented.api_key)
                except (SQLAlchemyError, OSError) as exc:
                    raise AuthBackendError(f"api key store: {describe(exc)}") from exc
                if stored is not None:
                    return stored
        where = f"{self.header_name} header" if presented.api_key_source == "header" else f"{self.query_name} parameter"
        return Invalid("unknown key", f"the api key in the {where} matches no configured key")
