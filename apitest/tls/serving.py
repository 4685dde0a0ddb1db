"""Which TLS ports a configuration serves, their certificate files and SSL contexts (used by apitest.server),
and the lab table as the portal's Discovery page shows it."""

from __future__ import annotations

import functools
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apitest import logs
from apitest.config import ConfigError, Settings
from apitest.tls.lab import BY_NAME, LISTENERS, LabListener, plain_context, server_context, unavailable_reason
from apitest.tls.lab import sha1_unavailable as sha1_unavailable
from apitest.tls.listeners import ListenerSpec, bind
from apitest.tls.material import Files, LabDir

log = logs.get("tls")
MAIN = "main"


def lab_dir(settings: Settings) -> LabDir:
    return LabDir(settings.tls_lab.dir, settings.tls_lab.hosts)


def main_tls_files(settings: Settings) -> Files | None:
    """The certificate and key of the main listener: server.tls's files, the dev CA's, or None (plain HTTP)."""
    tls = settings.server.tls
    if tls.dev_ca:
        return lab_dir(settings).server()
    if tls.enabled:
        return Files(Path(tls.cert_file), Path(tls.key_file))
    return None


@dataclass(frozen=True)
class Planned:
    listener: LabListener
    port: int
    unavailable: str  # why it is not served, "" when it is


def planned(settings: Settings) -> list[Planned]:
    """The lab listeners with a port configured, each with the reason it cannot be served (if any)."""
    if not settings.tls_lab.enabled:
        return []
    out = []
    for listener in LISTENERS:
        port = int(getattr(settings.tls_lab.ports, listener.port_key))
        if port:
            out.append(Planned(listener, port, unavailable_reason(listener)))
    return out


def context_for(settings: Settings, name: str) -> ssl.SSLContext:
    """The SSLContext of the main TLS port (``main``) or of a lab listener, from the files on disk."""
    if name == MAIN:
        files = main_tls_files(settings)
        assert files is not None
        return plain_context(files.cert, files.key)
    directory = lab_dir(settings)
    files = directory.lab(name)
    return server_context(BY_NAME[name], files.cert, files.key, directory.ca_files.cert)


def bind_listeners(settings: Settings) -> list[tuple[str, socket.socket]]:
    """Create any missing certificate files, then bind the main TLS port (when TLS is on) and each lab port.

    Runs once in the parent process, so ``--workers N`` share both the files and the sockets. A file that
    cannot be loaded or a port that cannot be bound is a :class:`ConfigError` naming the key.
    """
    host = settings.listen_host()
    bound: list[tuple[str, socket.socket]] = []
    try:
        if main_tls_files(settings) is not None:
            _prepare(settings, MAIN, "server.tls")
            bound.append((MAIN, _bind(host, settings.listen_port(), "server.address")))
        for plan in planned(settings):
            name, key = plan.listener.name, f"tls_lab.ports.{plan.listener.port_key}"
            if plan.unavailable:
                log.warning("TLS lab listener not served", extra={"listener": name, "reason": plan.unavailable})
                continue
            _prepare(settings, name, key)
            bound.append((name, _bind(host, plan.port, key)))
            log.info("TLS lab listener", extra={"listener": name, "address": f"{host}:{plan.port}"})
    except BaseException:
        for _, sock in bound:
            sock.close()
        raise
    return bound


def _prepare(settings: Settings, name: str, key: str) -> None:
    """Create the listener's files if missing and load them once, so a problem fails the start, not a worker."""
    try:
        context_for(settings, name)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError([f"{key}: cannot load the certificate or key: {exc}"]) from exc


def _bind(host: str, port: int, key: str) -> socket.socket:
    try:
        return bind(host, port)
    except OSError as exc:
        raise ConfigError([f"{key}: cannot listen on {host}:{port}: {exc.strerror or exc}"]) from exc


def specs_for(settings: Settings, bound: list[tuple[str, socket.socket]]) -> list[ListenerSpec]:
    return [ListenerSpec(name, sock, functools.partial(context_for, settings, name)) for name, sock in bound]


def discovery(settings: Settings) -> dict[str, Any]:
    """The lab as the Discovery page lists it: every listener with its URL (or why not) and its errors."""
    hosts = [h for h in settings.tls_lab.hosts if h.strip()] or ["localhost"]
    rows = []
    plans = {p.listener.name: p for p in planned(settings)}
    for listener in LISTENERS:
        plan = plans.get(listener.name)
        reason = unavailable_reason(listener)
        rows.append(
            {
                "name": listener.name,
                "summary": listener.summary,
                "port_key": f"tls_lab.ports.{listener.port_key}",
                "url": f"https://{hosts[0]}:{plan.port}/v1/" if plan and not reason else "",
                "unavailable": reason,
                "mtls": listener.mtls,
                "curl": listener.curl,
                "openssl": listener.openssl,
                "python": listener.python,
                "nginx": listener.nginx,
                "haproxy": listener.haproxy,
            }
        )
    return {
        "enabled": settings.tls_lab.enabled,
        "dir": settings.tls_lab.dir,
        "hosts": hosts,
        "listeners": rows,
        "sha1": sha1_unavailable(),
    }
