from __future__ import annotations

from apitest.endpoints.httpbin import ROUTES
from apitest.endpoints.httpbin_specs import ANY_METHODS, anything_route, digest_route, redirect_to_route


def test_every_route_documents_its_success_or_redirect() -> None:
    for r in ROUTES:
        assert any(200 <= status < 400 for status in r.responses), r.name


def test_builders_name_routes_uniquely_per_method() -> None:
    names = [anything_route(m, "/anything").name for m in ANY_METHODS]
    names += [anything_route(m, "/anything/{path:path}").name for m in ANY_METHODS]
    names += [redirect_to_route(m).name for m in ("GET", "POST")]
    assert len(names) == len(set(names))
    assert anything_route("POST", "/anything").request_body is not None
    assert anything_route("GET", "/anything").request_body is None


def test_digest_routes_read_authorization_and_document_the_challenge() -> None:
    r = digest_route("x", "/digest-auth/{qop}/{user}/{passwd}", ())
    assert r.own_authorization
    assert "WWW-Authenticate" in r.responses[401].headers
    assert [p.name for p in r.params] == ["qop", "user", "passwd", "stale_after"]
