"""Credential evidence without secrets: every credential a request presented, told apart by a keyed fingerprint.

For each credential on the wire (the API-key header, the API-key query parameter, an ``Authorization: Bearer``
token, which is a ``jwt`` when it is JWT-shaped) the audit row and ``/v1/whoami`` list::

    {"kind": "api_key", "source": "header", "name": "X-API-Key", "valid": true, "used": true,
     "fingerprint": "sha256:3f1c9a0b27de"}

- ``valid``: what the inbound chain decided about it; ``null`` when the chain did not examine it (the chain
  stops at the first credential it finds: the API-key header, else the query parameter, else the bearer);
- ``used``: it is the credential the request was authenticated with;
- ``fingerprint``: ``sha256:`` and the first 12 hex digits of HMAC-SHA256(install secret, value). The install
  secret is random, generated once and kept in the database (table ``install_secrets``), so the same key has
  the same fingerprint across restarts and workers, and nobody holding only audit rows or exports can test
  guesses offline. Without a database it is derived from ``portal.cookie_secret``, else random per process.
- a JWT adds its ``iss``, ``kid``, ``sub``, ``aud`` and ``azp``, read without verifying anything (a forged token
  shows what it claims), each bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from apitest import logs, safejson
from apitest.auth.base import Invalid
from apitest.auth.credentials import Presented, parse_authorization
from apitest.auth.jwtshape import MalformedJWT, b64url_decode, jwt_header
from apitest.db.models import Base
from apitest.identity import Identity
from apitest.storable import storable

log = logs.get("audit")

CREDENTIALS_KEY = "credentials"  # scope["state"] key: the evidence list the auth stage built
SECRET_NAME = "credential_fingerprint"  # noqa: S105 - the row's name, not a secret
MAX_CLAIM = 256
MAX_AUDIENCES = 8
MAX_PAYLOAD_SEGMENT = 16 * 1024
DERIVE_LABEL = b"apitest credential fingerprints v1"


class Fingerprinter:
    """Keyed fingerprints of credential values. Starts with a random key; :class:`FingerprintComponent`
    replaces it with the install secret when the app starts."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)
        self.origin = "process" if key is None else "given"

    def __call__(self, value: str) -> str:
        digest = hmac.new(self.key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"sha256:{digest[:12]}"


def _claim(value: Any) -> str | None:
    return storable(value)[:MAX_CLAIM] if isinstance(value, str) and value else None


def jwt_facts(token: str, header: dict[str, Any]) -> dict[str, Any]:
    """``iss``, ``kid``, ``sub``, ``aud``, ``azp`` of a JWT-shaped token, unverified and bounded; absent ones
    are left out."""
    facts: dict[str, Any] = {}
    kid = _claim(header.get("kid"))
    claims: Any = {}
    payload = token.split(".")[1]
    if len(payload) <= MAX_PAYLOAD_SEGMENT:
        try:
            claims = safejson.loads(b64url_decode(payload))
        except (ValueError, UnicodeDecodeError):  # safejson bounds depth and range: no RecursionError
            claims = {}
    if not isinstance(claims, dict):
        claims = {}
    aud = claims.get("aud")
    audiences = [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str) and a]
    values: dict[str, Any] = {
        "iss": _claim(claims.get("iss")),
        "kid": kid,
        "sub": _claim(claims.get("sub")),
        "aud": [storable(a)[:MAX_CLAIM] for a in audiences[:MAX_AUDIENCES]] or None,
        "azp": _claim(claims.get("azp")),
    }
    facts.update({k: v for k, v in values.items() if v is not None})
    return facts


class EvidenceReader:
    """Reads every credential of a request (not only the one the chain will use) and fingerprints it."""

    def __init__(self, fingerprints: Fingerprinter, *, header_name: str, query_name: str) -> None:
        self.fingerprints = fingerprints
        self.header_name = header_name
        self.header_key = header_name.lower().encode("latin-1")
        self.query_name = query_name
        self.query_bytes = query_name.encode("utf-8") if query_name else b""

    def read(self, headers: list[tuple[bytes, bytes]], query_string: bytes) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        authorization: str | None = None
        for name, value in headers:
            if name == self.header_key:
                key = value.decode("latin-1").strip()
                if key:
                    found.append(self._entry("api_key", "header", self.header_name, key))
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        if self.query_bytes and self.query_bytes in query_string:
            pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            for param, text in pairs:
                if param == self.query_name and text.strip():
                    found.append(self._entry("api_key", "query", self.query_name, text.strip()))
        token, _ = parse_authorization(authorization)
        if token:
            try:
                header = jwt_header(token)
            except MalformedJWT:  # JWT-shaped but refused (too deep, duplicate keys...): the chain says why
                header = {}
            kind = "bearer" if header is None else "jwt"
            entry = self._entry(kind, "header", "Authorization", token)
            if header is not None:
                entry.update(jwt_facts(token, header))
            found.append(entry)
        return found

    def _entry(self, kind: str, source: str, name: str, value: str) -> dict[str, Any]:
        return {
            "kind": kind,
            "source": source,
            "name": storable(name)[:MAX_CLAIM],  # a configured name, bounded like everything stored
            "valid": None,
            "used": False,
            "fingerprint": self.fingerprints(value),
        }


def settle(evidence: list[dict[str, Any]], presented: Presented, result: object) -> None:
    """Mark the credential the chain examined: ``valid`` by its answer, ``used`` when it authenticated the
    request. The chain examines the API key it read (header, else query), else the bearer token."""
    if not evidence:
        return
    if presented.api_key:
        examined = next(
            (e for e in evidence if e["kind"] == "api_key" and e["source"] == presented.api_key_source), None
        )
    elif presented.bearer:
        examined = next((e for e in evidence if e["kind"] in ("bearer", "jwt")), None)
    else:
        examined = None
    if examined is None:
        return
    if isinstance(result, Identity) and result.auth_type != "anonymous":
        examined["valid"] = examined["used"] = True
    elif isinstance(result, Invalid):
        examined["valid"] = False


class FingerprintComponent:
    """Loads (or creates, once per install) the fingerprint secret when the app starts."""

    name = "fingerprints"

    def __init__(self, fingerprints: Fingerprinter, cookie_secret: str, database: Any | None = None) -> None:
        self.fingerprints = fingerprints
        self.cookie_secret = cookie_secret
        self.database = database

    async def start(self) -> None:
        database = self.database
        if database is not None:
            self.fingerprints.key = bytes.fromhex(await install_secret(database, SECRET_NAME))
            self.fingerprints.origin = "database"
        elif self.cookie_secret:
            secret = self.cookie_secret.encode()
            self.fingerprints.key = hmac.new(secret, DERIVE_LABEL, hashlib.sha256).digest()
            self.fingerprints.origin = "cookie_secret"
        else:
            log.info("credential fingerprints are keyed per process (no database, no portal.cookie_secret)")

    async def stop(self) -> None:
        return None


async def install_secret(database: Any, name: str) -> str:
    """The hex secret ``name`` of this install, created on first use; concurrent workers agree on one."""
    table = Base.metadata.tables["install_secrets"]
    query = select(table.c.value).where(table.c.name == name)
    async with database.engine.begin() as conn:
        found = (await conn.execute(query)).scalar_one_or_none()
        if found is not None:
            return str(found)
    insert = pg_insert if database.dialect == "postgresql" else sqlite_insert
    row = {"name": name, "value": secrets.token_hex(32), "created_at": datetime.now(UTC)}
    async with database.engine.begin() as conn:
        await conn.execute(insert(table).values(**row).on_conflict_do_nothing())
        return str((await conn.execute(query)).scalar_one())
