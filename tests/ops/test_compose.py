"""The development stack: docker-compose.yml resolves with the Compose CLI (no engine needed), and the
Keycloak realm file describes the clients, user and audience mapper the docs promise."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REALM = ROOT / "dev" / "keycloak" / "api-test-realm.json"


def compose_command() -> list[str]:
    """``docker compose`` (v2 plugin) when present, else the standalone ``docker-compose``."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the compose project with a throwaway .env.dev (the real one is per developer)."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(ROOT / "dev", tmp_path / "dev")
    (tmp_path / ".env.dev").write_text(
        "export APITEST_COOKIE_SECRET=test-cookie-secret-0123456789\n"
        "export APITEST_DEV_KEY=apitest_testkey\n"
        "export APITEST_DEV_BEARER=apitest_bearer_test\n"
    )
    return tmp_path


def compose_config(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "--project-directory", str(project), "-f", str(project / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        cwd=project,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "COMPOSE_PROJECT_NAME": "apitest"},
        timeout=60,
    )


def resolved(project: Path) -> dict[str, Any]:
    out = compose_config(project, "--profile", "server", "config")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    assert isinstance(data, dict)
    return data


def published(port: Any) -> str:
    """``host_ip:published:target`` from the short form (Compose v1) or the long form (Compose v2)."""
    if isinstance(port, dict):
        return f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
    return str(port).removesuffix("/tcp")


def mount(volume: Any) -> str:
    """``source:target[:ro]`` from the short form (Compose v1) or the long form (Compose v2)."""
    if isinstance(volume, dict):
        return f"{volume['source']}:{volume['target']}" + (":ro" if volume.get("read_only") else "")
    return str(volume).removesuffix(":rw")


def test_compose_config_lists_the_services(project: Path) -> None:
    server = compose_config(project, "--profile", "server", "config", "--services")
    assert server.returncode == 0, server.stderr
    assert sorted(server.stdout.split()) == ["apitest", "keycloak", "postgres"]
    services = resolved(project)["services"]
    assert "profiles" not in services["postgres"] and "profiles" not in services["keycloak"]
    assert services["apitest"]["profiles"] == ["server"]  # opt-in: `make dev` runs apitest on the host


def test_postgres_matches_the_original_dev_stack(project: Path) -> None:
    pg = resolved(project)["services"]["postgres"]
    assert pg["image"] == "postgres:16-alpine"
    assert pg["environment"] == {"POSTGRES_USER": "api", "POSTGRES_PASSWORD": "api", "POSTGRES_DB": "apitest"}
    assert [published(p) for p in pg["ports"]] == ["127.0.0.1:5432:5432"]
    assert "pg_isready -U api" in " ".join(pg["healthcheck"]["test"])


def test_keycloak_imports_the_realm_on_loopback(project: Path) -> None:
    kc = resolved(project)["services"]["keycloak"]
    assert kc["image"].startswith("quay.io/keycloak/keycloak:25")
    assert "--import-realm" in kc["command"]
    assert [mount(v).removeprefix(str(project)) for v in kc["volumes"]] == [
        "/dev/keycloak:/opt/keycloak/data/import:ro"
    ]
    assert [published(p) for p in kc["ports"]] == ["127.0.0.1:8081:8080"]
    assert kc["environment"]["KC_HOSTNAME"] == "http://localhost:8081"
    assert kc["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_apitest_service_reads_secrets_from_env_dev(project: Path) -> None:
    svc = resolved(project)["services"]["apitest"]
    env = svc["environment"]
    assert env["APITEST_COOKIE_SECRET"] == "test-cookie-secret-0123456789"  # from .env.dev
    assert env["APITEST_DEV_KEY"] == "apitest_testkey"
    assert env["APITEST_OIDC_ISSUER"] == "http://localhost:8081/realms/api-test"
    assert svc["command"][:4] == ["apitest", "serve", "--config", "/etc/apitest/apitest.yaml"]
    assert [mount(v).removeprefix(str(project)) for v in svc["volumes"]] == [
        "/configs/apitest.live.yaml:/etc/apitest/apitest.yaml:ro"
    ]
    assert svc["build"]["dockerfile"] == "Dockerfile"


def test_compose_refuses_without_env_dev(project: Path) -> None:
    (project / ".env.dev").unlink()
    out = compose_config(project, "--profile", "server", "config")
    assert out.returncode != 0
    assert ".env.dev" in out.stderr


def test_compose_file_binds_every_port_to_loopback() -> None:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, svc in data["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


# --- the realm ---


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    data = json.loads(REALM.read_text())
    assert isinstance(data, dict)
    return data


def client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    found = [c for c in realm["clients"] if c["clientId"] == client_id]
    assert len(found) == 1, f"client {client_id} missing or duplicated"
    return found[0]


def test_realm_name_and_registration(realm: dict[str, Any]) -> None:
    assert realm["realm"] == "api-test"
    assert realm["enabled"] is True
    assert realm["registrationAllowed"] is False


def test_portal_client_is_public_with_pkce(realm: dict[str, Any]) -> None:
    portal = client(realm, "api-test-portal")
    assert portal["publicClient"] is True
    assert portal["standardFlowEnabled"] is True
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    assert portal["redirectUris"] == ["http://localhost:8080/portal/auth/callback"]
    assert portal["webOrigins"] == ["http://localhost:8080"]


@pytest.mark.parametrize(
    ("client_id", "service_accounts", "standard_flow"),
    [("plexara-cc", True, False), ("plexara-ac", False, True)],
)
def test_gateway_clients_are_confidential(
    realm: dict[str, Any], client_id: str, service_accounts: bool, standard_flow: bool
) -> None:
    c = client(realm, client_id)
    assert c["publicClient"] is False
    assert c["clientAuthenticatorType"] == "client-secret"
    assert c["secret"] == f"dev-{client_id}-client-secret"
    assert c["serviceAccountsEnabled"] is service_accounts
    assert c["standardFlowEnabled"] is standard_flow


@pytest.mark.parametrize("client_id", ["api-test-portal", "plexara-cc", "plexara-ac"])
def test_every_client_adds_the_api_test_audience(realm: dict[str, Any], client_id: str) -> None:
    mappers = [m for m in client(realm, client_id)["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"]
    assert len(mappers) == 1
    config = mappers[0]["config"]
    assert config["included.custom.audience"] == "api-test"
    assert config["access.token.claim"] == "true"
    assert config["id.token.claim"] == "true"


def test_dev_user(realm: dict[str, Any]) -> None:
    (dev,) = [u for u in realm["users"] if u["username"] == "dev"]
    assert dev["enabled"] is True
    assert dev["email"] == "dev@example.com"
    assert dev["emailVerified"] is True
    assert dev["credentials"] == [{"type": "password", "value": "dev", "temporary": False}]
    (sa,) = [u for u in realm["users"] if u.get("serviceAccountClientId")]
    assert sa["serviceAccountClientId"] == "plexara-cc"
