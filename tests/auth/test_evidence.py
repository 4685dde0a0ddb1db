"""Credential fingerprints: keyed, stable per install, and JWT facts read without trusting them."""

from __future__ import annotations

import base64
import json
import re

from apitest.auth.evidence import (
    MAX_CLAIM,
    EvidenceReader,
    FingerprintComponent,
    Fingerprinter,
    install_secret,
    jwt_facts,
)
from apitest.db.engine import Database


def test_fingerprints_are_keyed_and_short() -> None:
    one, other = Fingerprinter(b"k" * 32), Fingerprinter(b"j" * 32)
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", one("key-a"))
    assert one("key-a") == one("key-a") != one("key-b")
    assert one("key-a") != other("key-a")  # the value alone does not give the fingerprint


async def test_the_install_secret_is_created_once_and_kept(db_url: str) -> None:
    database = Database(db_url)
    try:
        first = await install_secret(database, "test_secret")
        assert re.fullmatch(r"[0-9a-f]{64}", first)
        assert await install_secret(database, "test_secret") == first
        fingerprints = Fingerprinter()
        await FingerprintComponent(fingerprints, "", database).start()
        again = Fingerprinter()
        await FingerprintComponent(again, "", database).start()
        assert fingerprints.origin == again.origin == "database"
        assert fingerprints("k") == again("k")  # the same across restarts and workers
    finally:
        await database.dispose()


async def test_without_a_database_the_key_derives_from_the_cookie_secret() -> None:
    a, b, c = Fingerprinter(), Fingerprinter(), Fingerprinter()
    await FingerprintComponent(a, "cookie-secret-123456", None).start()
    await FingerprintComponent(b, "cookie-secret-123456", None).start()
    await FingerprintComponent(c, "", None).start()
    assert a("k") == b("k") and a.origin == "cookie_secret"
    assert c.origin == "process" and c("k") != a("k")


def _segment(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_jwt_facts_are_bounded_and_skip_what_is_not_text() -> None:
    token = f"{_segment({'alg': 'none'})}.{_segment({'iss': 'x' * 1000, 'sub': 5, 'aud': 'one'})}.sig"
    facts = jwt_facts(token, {"alg": "none", "kid": ["not", "text"]})
    assert facts == {"iss": "x" * MAX_CLAIM, "aud": ["one"]}
    assert jwt_facts("a.!!!.c", {"kid": "k"}) == {"kid": "k"}


def test_the_reader_sees_every_credential() -> None:
    reader = EvidenceReader(Fingerprinter(b"k" * 32), header_name="X-API-Key", query_name="api_key")
    found = reader.read(
        [(b"x-api-key", b" a "), (b"authorization", b"Bearer opaque"), (b"authorization", b"Bearer second")],
        b"api_key=b&api_key=&other=1",
    )
    assert [(e["kind"], e["source"], e["name"]) for e in found] == [
        ("api_key", "header", "X-API-Key"),
        ("api_key", "query", "api_key"),
        ("bearer", "header", "Authorization"),
    ]
    assert found[0]["fingerprint"] == Fingerprinter(b"k" * 32)("a")  # trimmed, as the chain reads it
    assert reader.read([(b"authorization", b"Basic dTpw")], b"") == []
