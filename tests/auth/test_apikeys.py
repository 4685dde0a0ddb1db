from __future__ import annotations

import pytest

from apitest.auth.apikeys import ApiKeyAuthenticator
from apitest.auth.base import AuthBackendError, Invalid
from apitest.auth.credentials import Presented
from apitest.auth.keystore import generate_key
from apitest.config.model import APIKeysDBSettings, APIKeysSettings, FileKey
from apitest.identity import Identity

FILE = [FileKey(name="devkey", key="dev-secret", scopes=["read"]), FileKey(name="unset", key="")]


async def test_file_keys() -> None:
    auth = ApiKeyAuthenticator(APIKeysSettings(file=FILE), None)
    assert await auth.authenticate(Presented()) is None
    assert await auth.authenticate(Presented(bearer="dev-secret")) is None
    found = await auth.authenticate(Presented(api_key="dev-secret", api_key_source="query"))
    assert found == Identity(subject="devkey", auth_type="apikey", key_name="devkey", scopes=("read",))
    miss = await auth.authenticate(Presented(api_key="nope", api_key_source="query"))
    assert miss == Invalid("unknown key", "the api key in the api_key parameter matches no configured key")


async def test_database_shaped_keys_need_a_started_store() -> None:
    settings = APIKeysSettings(file=FILE, db=APIKeysDBSettings(enabled=True))
    auth = ApiKeyAuthenticator(settings, None)
    with pytest.raises(AuthBackendError, match="not started"):
        await auth.authenticate(Presented(api_key=generate_key(), api_key_source="header"))
    miss = await auth.authenticate(Presented(api_key="not-db-shaped", api_key_source="header"))
    assert isinstance(miss, Invalid)  # never reaches the store


async def test_database_keys_off_means_no_lookup() -> None:
    auth = ApiKeyAuthenticator(APIKeysSettings(file=FILE), None)
    miss = await auth.authenticate(Presented(api_key=generate_key(), api_key_source="header"))
    assert isinstance(miss, Invalid) and miss.description == "unknown key"


class _Store:
    """A key store that answers from a table and records what it was asked."""

    def __init__(self, answers: dict[str, Identity | Invalid | None]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def authenticate(self, plaintext: str) -> Identity | Invalid | None:
        self.asked.append(plaintext)
        return self.answers.get(plaintext)


async def test_the_store_decides_and_a_value_it_does_not_know_as_a_key_is_refused_as_unknown() -> None:
    settings = APIKeysSettings(file=FILE, db=APIKeysDBSettings(enabled=True))
    stored, revoked = generate_key(), generate_key()
    identity = Identity(subject="ci", auth_type="apikey", key_name="ci")
    store = _Store({stored: identity, revoked: Invalid("revoked key", "database key at_… was revoked")})
    auth = ApiKeyAuthenticator(settings, store)  # type: ignore[arg-type]
    assert await auth.authenticate(Presented(api_key=stored, api_key_source="header")) == identity
    refused = await auth.authenticate(Presented(api_key=revoked, api_key_source="header"))
    assert isinstance(refused, Invalid) and refused.description == "revoked key"
    miss = await auth.authenticate(Presented(api_key="not-db-shaped", api_key_source="header"))
    assert miss == Invalid("unknown key", "the api key in the X-API-Key header matches no configured key")
    found = await auth.authenticate(Presented(api_key="dev-secret", api_key_source="header"))
    assert found is not None and not isinstance(found, Invalid) and found.key_name == "devkey"
    assert store.asked == [stored, revoked, "not-db-shaped"]  # a file key never reaches the store
