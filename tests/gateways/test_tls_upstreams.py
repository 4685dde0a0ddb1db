"""TLS between a real gateway and apitest's lab listeners, with the settings docs/tls.md shows.

Through nginx, HAProxy and Caddy on loopback: the ``valid`` listener works with the dev CA trusted; every broken
listener makes the gateway fail with the error the lab table documents (nginx and Caddy answer 502, HAProxy
503); the ``mtls-required`` listener accepts the gateway's client certificate (the audit row shows its
subject) and refuses a gateway without one. nginx also shows the two port mix-ups of the troubleshooting page.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from apitest.tls.lab import LISTENERS, LabListener, unavailable_reason
from tests.gateways.tls_gateways import Gateway, adapt, snippet, start_caddy, start_haproxy, start_nginx
from tests.tls.support import LabServer, lab_server

pytestmark = pytest.mark.gateways

SERVED = [listener for listener in LISTENERS if not unavailable_reason(listener)]
IDS = [listener.name for listener in SERVED]
GW_SUBJECT = "CN=gw,O=apitest client"
MTLS = "mtls-with-cert"  # the route using the client-certificate snippet


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with lab_server(tmp_path_factory.mktemp("gateway-upstream")) as running:
        yield running


@pytest.fixture(scope="module")
def nginx(server: LabServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    verify, mtls = snippet("nginx-verify"), snippet("nginx-mtls")

    def location(route: str, text: str, port: int) -> str:
        return adapt(text, server.dir, port).replace("location /api/ {", f"location /{route}/ {{")

    locations = [location(listener.name, verify, server.ports[listener.name]) for listener in SERVED]
    locations.append(location(MTLS, mtls, server.ports["mtls-required"]))
    # the troubleshooting page's mix-ups: https:// to the plain port, http:// to a TLS port
    locations.append(f"location /https-to-plain/ {{ proxy_pass https://127.0.0.1:{server.port}/; }}")
    locations.append(f"location /http-to-tls/ {{ proxy_pass http://127.0.0.1:{server.ports['valid']}/; }}")
    gateway = start_nginx(tmp_path_factory.mktemp("nginx"), locations)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def haproxy(server: LabServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    verify, mtls = snippet("haproxy-verify"), snippet("haproxy-mtls")

    def backend(route: str, text: str, port: int) -> str:
        return adapt(text, server.dir, port).replace("backend apitest", f"backend be_{route}")

    backends = {listener.name: backend(listener.name, verify, server.ports[listener.name]) for listener in SERVED}
    backends[MTLS] = backend(MTLS, mtls, server.ports["mtls-required"])
    gateway = start_haproxy(tmp_path_factory.mktemp("haproxy"), snippet("haproxy-log"), backends)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def caddy(server: LabServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    verify, mtls = snippet("caddy-verify"), snippet("caddy-mtls")
    sites = {listener.name: adapt(verify, server.dir, server.ports[listener.name]) for listener in SERVED}
    sites[MTLS] = adapt(mtls, server.dir, server.ports["mtls-required"])
    gateway = start_caddy(tmp_path_factory.mktemp("caddy"), sites)
    yield gateway
    gateway.stop()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=15)


def check(response: httpx.Response, gateway: Gateway, expected_error: str, failure_status: tuple[int, ...]) -> None:
    if expected_error:
        assert response.status_code in failure_status, response.text
        assert gateway.wait_for_log(expected_error), gateway.log_text()[-2000:]
    else:
        assert response.status_code == 200, response.text
        assert response.json()["auth_type"] == "anonymous"


def assert_client_certificate(response: httpx.Response, server: LabServer) -> None:
    assert response.status_code == 200, response.text
    certificate = response.json()["client_certificate"]
    assert certificate["subject"] == GW_SUBJECT
    assert certificate in server.client_certificates(certificate["sha256"])


@pytest.mark.parametrize("listener", SERVED, ids=IDS)
def test_nginx(nginx: Gateway, listener: LabListener) -> None:
    response = get(f"http://127.0.0.1:{nginx.port}/{listener.name}/v1/whoami")
    check(response, nginx, listener.nginx, (502,))


def test_nginx_presents_its_client_certificate(nginx: Gateway, server: LabServer) -> None:
    assert_client_certificate(get(f"http://127.0.0.1:{nginx.port}/{MTLS}/v1/whoami"), server)


def test_nginx_https_to_a_plain_port(nginx: Gateway, server: LabServer) -> None:
    response = get(f"http://127.0.0.1:{nginx.port}/https-to-plain/v1/whoami")
    assert response.status_code == 502
    assert server.wait_for_log("TLS handshake on a plain-HTTP port")


def test_nginx_http_to_a_tls_port(nginx: Gateway, server: LabServer) -> None:
    response = get(f"http://127.0.0.1:{nginx.port}/http-to-tls/v1/whoami")
    assert response.status_code == 400
    assert response.text == "The plain HTTP request was sent to HTTPS port\n"
    lines = server.wait_for_log("plain HTTP request on a TLS port")
    assert any(line["listener"] == "valid" for line in lines)


@pytest.mark.parametrize("listener", SERVED, ids=IDS)
def test_haproxy(haproxy: Gateway, listener: LabListener) -> None:
    response = get(f"http://127.0.0.1:{haproxy.port}/{listener.name}/v1/whoami")
    if listener.mtls == "required":
        # TLS 1.3: HAProxy may have sent the request before the server's alert arrives (502 SH--), else 503 SC--
        check(response, haproxy, listener.haproxy, (502, 503))
        assert haproxy.wait_for_log(f"be_{listener.name}/apitest {response.status_code} S")
    else:
        check(response, haproxy, listener.haproxy, (503,))
    if listener.haproxy and not listener.mtls:
        assert haproxy.wait_for_log(f"be_{listener.name}/apitest 503 SC-- {listener.haproxy}")


def test_haproxy_presents_its_client_certificate(haproxy: Gateway, server: LabServer) -> None:
    assert_client_certificate(get(f"http://127.0.0.1:{haproxy.port}/{MTLS}/v1/whoami"), server)


@pytest.mark.parametrize("listener", SERVED, ids=IDS)
def test_caddy(caddy: Gateway, listener: LabListener) -> None:
    response = get(f"http://127.0.0.1:{caddy.ports[listener.name]}/v1/whoami")
    check(response, caddy, listener.caddy, (502,))


def test_caddy_presents_its_client_certificate(caddy: Gateway, server: LabServer) -> None:
    assert_client_certificate(get(f"http://127.0.0.1:{caddy.ports[MTLS]}/v1/whoami"), server)


def test_snippets_are_the_documented_settings() -> None:
    """The directives the issue names are in the snippets the suite runs."""
    assert "proxy_ssl_verify on;" in snippet("nginx-verify")
    assert "proxy_ssl_trusted_certificate" in snippet("nginx-verify")
    assert "proxy_ssl_certificate " in snippet("nginx-mtls")
    assert "ssl verify required ca-file" in snippet("haproxy-verify")
    assert " crt " in snippet("haproxy-mtls")
    assert "tls_trusted_ca_certs" in snippet("caddy-verify")
    assert "tls_client_auth" in snippet("caddy-mtls")
