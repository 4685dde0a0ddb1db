from __future__ import annotations

import pytest

from apitest.auth.jwtshape import b64url_decode, jwt_header
from tests.auth.idp import b64, unsigned


@pytest.mark.parametrize(
    ("token", "shaped"),
    [
        (unsigned({"alg": "RS256"}, {"sub": "x"}, "sig"), True),
        (unsigned({"alg": "none"}, {"sub": "x"}), True),
        ("abc123", False),
        ("a.b", False),
        ("a.b.c.d", False),
        (unsigned({}, {}, "sig"), False),  # no alg
        (unsigned({"alg": ""}, {}, "sig"), False),
        (unsigned({"alg": 5}, {}, "sig"), False),
        (b64(b"[1]") + ".e30.sig", False),
        ("!!!!.e30.sig", False),  # not base64url
        (b64(b"not json") + ".e30.sig", False),
        (".e30.sig", False),
    ],
)
def test_jwt_header(token: str, shaped: bool) -> None:
    assert (jwt_header(token) is not None) is shaped


def test_b64url_is_strict() -> None:
    assert b64url_decode("aGk") == b"hi"
    assert b64url_decode("aGk=") == b"hi"
    with pytest.raises(ValueError):
        b64url_decode("aG+k")
    with pytest.raises(ValueError):
        b64url_decode("a G k")
