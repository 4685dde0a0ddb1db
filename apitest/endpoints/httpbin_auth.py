"""HTTP authentication challenges: ``/basic-auth``, ``/hidden-basic-auth`` and ``/digest-auth``.

These routes read ``Authorization`` themselves (``own_authorization``): the ``/v1`` chain does not take a
``Basic`` or ``Digest`` header for a credential there. Secrets are compared in constant time.

Digest nonces are stateless: ``<unix time>.<HMAC(key, time)>``, with the opaque value an HMAC of the
nonce, so any worker can check them. The key is derived from ``portal.cookie_secret`` when set (all
workers agree), else random per process. A nonce older than ``stale_after`` seconds with an otherwise
correct response gets a fresh challenge with ``stale=true`` (RFC 7616 §3.3).

References: RFC 7617 (Basic), RFC 7616 (Digest: qop=auth, MD5 and SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import non_negative_bounded
from apitest.http import ParamError, error_response, json_response

BASIC_REALM = 'Basic realm="Fake Realm"'
DIGEST_REALM = "httpbin@api-test"
ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
STALE_DEFAULT, STALE_MAX = 300, 86400
_PROCESS_KEY = secrets.token_bytes(32)
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')


def constant_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and a non-ASCII header value
        return None
    return (user, password) if sep else None


def basic_result(request: Request) -> tuple[bool, str]:
    given = basic_credentials(request) or ("", "")
    user, password = request.path_params["user"], request.path_params["passwd"]
    ok = constant_equal(given[0], user) & constant_equal(given[1], password)
    return ok, given[0]


async def basic_auth(request: Request) -> Response:
    ok, user = basic_result(request)
    body = {"authenticated": ok, "authorized": ok, "user": user}
    return json_response(body, 200 if ok else 401, None if ok else {"WWW-Authenticate": BASIC_REALM})


async def hidden_basic_auth(request: Request) -> Response:
    ok, user = basic_result(request)
    if not ok:
        return error_response("not found", 404)
    return json_response({"authenticated": True, "authorized": True, "user": user})


def nonce_key(secret: str) -> bytes:
    """The digest nonce key: derived from ``portal.cookie_secret`` (shared by workers), else per process."""
    if not secret:
        return _PROCESS_KEY
    return hmac.new(secret.encode(), b"apitest httpbin digest nonce", hashlib.sha256).digest()


def make_nonce(key: bytes, issued: int) -> str:
    return f"{issued}.{hmac.new(key, str(issued).encode(), hashlib.sha256).hexdigest()[:32]}"


def opaque_of(key: bytes, nonce: str) -> str:
    return hmac.new(key, b"opaque:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


def nonce_age(key: bytes, nonce: str, now: int) -> int | None:
    """Seconds since the nonce was issued, or None when this server did not issue it."""
    issued, _, _ = nonce.partition(".")
    if not issued.isdigit() or len(issued) > 12 or not constant_equal(nonce, make_nonce(key, int(issued))):
        return None
    return now - int(issued)


def digest_params(header: str) -> dict[str, str] | None:
    """The ``key=value`` pairs of a ``Digest`` Authorization (quoted values unescaped); None when not Digest."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "digest":
        return None
    out: dict[str, str] = {}
    for key, value in _PARAM.findall(rest):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.setdefault(key.lower(), value)
    return out


def challenge(key: bytes, algorithm: str, *, stale: bool = False) -> str:
    nonce = make_nonce(key, int(time.time()))
    return (
        f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm={algorithm}, nonce="{nonce}", '
        f'opaque="{opaque_of(key, nonce)}"' + (", stale=true" if stale else "")
    )


def request_target(request: Request) -> str:
    """The request-target as sent (path and query), which the Digest ``uri`` must equal."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw_path.decode("latin-1")
    qs = request.scope.get("query_string", b"").decode("latin-1")
    return path + ("?" + qs if qs else "")


def expected_response(p: dict[str, str], password: str, method: str, algorithm: str) -> str:
    h = ALGORITHMS[algorithm]
    ha1 = h(f"{p['username']}:{p['realm']}:{password}".encode()).hexdigest()
    ha2 = h(f"{method}:{p['uri']}".encode()).hexdigest()
    return h(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}".encode()).hexdigest()


def digest_verdict(request: Request, key: bytes, algorithm: str, stale_after: int) -> str:
    """``ok``, ``stale`` (right answer to an expired nonce) or ``denied``."""
    p = digest_params(request.headers.get("authorization", ""))
    fields = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "opaque")
    if p is None or any(name not in p for name in fields):
        return "denied"
    if (p["qop"], p.get("algorithm", "MD5").upper(), p["realm"]) != ("auth", algorithm, DIGEST_REALM):
        return "denied"
    age = nonce_age(key, p["nonce"], int(time.time()))
    if (
        age is None
        or p["uri"] != request_target(request)
        or not constant_equal(p["opaque"], opaque_of(key, p["nonce"]))
    ):
        return "denied"
    user, password = request.path_params["user"], request.path_params["passwd"]
    expected = expected_response(p, password, request.method, algorithm)
    if not (constant_equal(p["username"], user) & constant_equal(p["response"], expected)):
        return "denied"
    return "stale" if age > stale_after else "ok"


@needs_deps
async def digest_auth(request: Request, *, deps: EndpointDeps) -> Response:
    qop = request.path_params["qop"].lower()
    if qop != "auth":
        raise ParamError(f'invalid QOP directive: {qop[:32]!r} != "auth"')
    algorithm = request.path_params.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        raise ParamError(f"invalid algorithm: {algorithm[:32]!r} must be one of MD5 or SHA-256")
    stale_after = non_negative_bounded(request, "stale_after", STALE_DEFAULT, STALE_MAX)
    key = nonce_key(deps.settings.portal.cookie_secret)
    verdict = digest_verdict(request, key, algorithm, stale_after)
    if verdict == "ok":
        return json_response({"authenticated": True, "authorized": True, "user": request.path_params["user"]})
    header = challenge(key, algorithm, stale=verdict == "stale")
    return error_response("unauthorized", 401, {"WWW-Authenticate": header})
