"""The Dockerfile's runtime layout, rehearsed without a Docker engine.

Like the image: a wheel of this tree installed into a fresh virtualenv (not the editable checkout),
migrations and templates copied to an /app-like directory, APITEST_MIGRATIONS_DIR and
APITEST_TEMPLATES_DIR pointing there, and the server started from a directory that is not the source tree.
The dependencies come from the development virtualenv through a path entry, so no index is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory standing in for the image: /opt/apitest (venv) and /app."""
    root = tmp_path_factory.mktemp("image")
    source = root / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "*cache*", "data", "*.egg-info"))
    wheels = root / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source))
    venv = root / "opt" / "apitest"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    purelib = Path(run(str(python), "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # Dependencies from the dev venv, as a plain path entry: its editable-install hook is not loaded.
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("apitest-*.whl")
    run(sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(purelib), str(wheel))
    app = root / "app"
    for name in ("migrations", "configs", "templates"):
        shutil.copytree(ROOT / name, app / name)
    return root


def test_the_wheel_serves_with_migrations_and_portal_templates(image: Path, tmp_path: Path) -> None:
    python = image / "opt" / "apitest" / "bin" / "python"
    probe = "import apitest, os; print(os.path.dirname(apitest.__file__))"
    where = run(str(python), "-c", probe, cwd=str(tmp_path)).stdout.strip()
    assert where.startswith(str(image / "opt")), where  # the installed wheel, not the checkout

    port = free_port()
    config = tmp_path / "apitest.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"address": f"127.0.0.1:{port}", "shutdown": {"pre_shutdown_delay": "0s"}},
                "auth": {"allow_anonymous": True},
                "endpoints": {"identity": {"enabled": True}},
                "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/data/apitest.db"},
                "audit": {"enabled": True},
                "portal": {"enabled": True, "cookie_secret": "x" * 48},
            }
        )
    )
    env = {
        "PATH": f"{image / 'opt' / 'apitest' / 'bin'}:/usr/bin:/bin",
        "APITEST_MIGRATIONS_DIR": str(image / "app" / "migrations"),
        "APITEST_TEMPLATES_DIR": str(image / "app" / "templates"),
        "APITEST_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/healthz",
        "LOG_LEVEL": "warn",
        "HOME": str(tmp_path),
    }
    cmd = [str(image / "opt" / "apitest" / "bin" / "python"), "-m", "apitest.cli", "serve", "--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            check = subprocess.run(
                [str(python), "-m", "apitest.cli", "healthcheck"], env=env, cwd=tmp_path, capture_output=True
            )
            if check.returncode == 0:  # the image's HEALTHCHECK command
                healthy = True
                break
            time.sleep(0.3)
        assert healthy, proc.stdout.read() if proc.stdout and proc.poll() is not None else "no healthy answer"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/v1/whoami").status_code == 200
            login = client.get("/portal/login")
            assert login.status_code == 200 and "<form" in login.text  # templates found through the variable
            assert client.get("/docs").status_code == 200  # package data (the vendored Swagger UI)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert (tmp_path / "data" / "apitest.db").exists()  # migrated from APITEST_MIGRATIONS_DIR
    assert proc.returncode == 0
    assert os.environ.get("APITEST_MIGRATIONS_DIR") != env["APITEST_MIGRATIONS_DIR"]
