"""The files of a TLS lab directory (``tls_lab.dir``, default ``data/tls``).

::

    ca.pem  ca.key              the dev CA (what a gateway trusts: `apitest tls ca`)
    server.pem  server.key      a server certificate for tls_lab.hosts + 127.0.0.1 + ::1 (server.tls.dev_ca)
    clients/<name>.pem .key     client certificates (`apitest tls client --name gw`)
    clients/<name>.bundle.pem   the same certificate and key in one file (HAProxy's `crt`)
    lab/<listener>.pem .key     each lab listener's certificate chain (as served) and key
    lab/untrusted-ca.pem .key   the second root behind `untrusted-root`
    lab/intermediate.pem .key   the intermediate behind `incomplete-chain` (never sent)

Private keys are written with mode 0600. Missing files are created on demand (``apitest tls init`` or the
first ``apitest serve`` with the lab on); existing ones are kept (a lab certificate meant to be in date is
renewed once it runs out), so a gateway that trusts ``ca.pem`` keeps
trusting it across restarts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apitest.tls import ca
from apitest.tls.ca import Pair

CA_NAME = "apitest dev CA"
UNTRUSTED_CA_NAME = "apitest untrusted root"
INTERMEDIATE_NAME = "apitest intermediate (not sent)"
WRONG_HOST = "wrong-host.apitest.invalid"
TIME_BROKEN = frozenset({"expired", "not-yet-valid"})  # lab certificates that are out of date on purpose
CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def all_hosts(hosts: Sequence[str]) -> list[str]:
    """The configured host names plus the loopback addresses every certificate also names."""
    out: list[str] = []
    for host in [*hosts, *ca.LOOPBACK_NAMES]:
        if host and host not in out:
            out.append(host)
    return out


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Files:
    """A certificate (chain) file and its key file."""

    cert: Path
    key: Path


class LabDir:
    """One lab directory; every method creates what it needs and keeps what exists."""

    def __init__(self, path: str | Path, hosts: Sequence[str] = ("localhost",)) -> None:
        self.path = Path(path)
        self.hosts = all_hosts(hosts)

    def files(self, stem: str) -> Files:
        return Files(self.path / f"{stem}.pem", self.path / f"{stem}.key")

    @property
    def ca_files(self) -> Files:
        return self.files("ca")

    @property
    def server_files(self) -> Files:
        return self.files("server")

    def _load(self, files: Files) -> Pair | None:
        if not (files.cert.is_file() and files.key.is_file()):
            return None
        return ca.load_pair(files.cert.read_bytes(), files.key.read_bytes())

    def _save(self, files: Files, pair: Pair, *chain: Pair) -> Files:
        write_private(files.key, ca.key_pem(pair.key))
        write_public(files.cert, ca.cert_pem(pair.cert, *(c.cert for c in chain)))
        return files

    def _root(self, stem: str, common_name: str) -> Pair:
        files = self.files(stem)
        found = self._load(files)
        if found is None:
            found = ca.make_ca(common_name)
            self._save(files, found)
        return found

    def ca(self) -> Pair:
        """The dev CA, created on first use."""
        return self._root("ca", CA_NAME)

    def ca_pem(self) -> bytes:
        self.ca()
        return self.ca_files.cert.read_bytes()

    def server(self, *, force: bool = False) -> Files:
        """The dev CA's server certificate for the host names (reissued when ``force``)."""
        files = self.server_files
        if force or self._load(files) is None:
            self._save(files, ca.issue(self.ca(), self.hosts[0], self.hosts))
        return files

    def client(self, client_name: str) -> Files:
        """Issue (or reissue) a client certificate signed by the dev CA, CN and SAN ``client_name``."""
        if not CLIENT_NAME.match(client_name):
            raise ValueError(f"client name {client_name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        pair = ca.issue(self.ca(), client_name, [client_name], client=True)
        files = self._save(self.files(f"clients/{client_name}"), pair)
        write_private(self.bundle(client_name), ca.cert_pem(pair.cert) + ca.key_pem(pair.key))
        return files

    def bundle(self, client_name: str) -> Path:
        """The client certificate and key in one PEM file (HAProxy's ``crt``)."""
        return self.path / "clients" / f"{client_name}.bundle.pem"

    def lab(self, listener: str, *, force: bool = False) -> Files:
        """The certificate chain and key a lab listener serves, created on first use (reissued when ``force``)."""
        files = self.files(f"lab/{listener}")
        found = self._load(files)
        stale = found is not None and listener not in TIME_BROKEN and found.cert.not_valid_after_utc < datetime.now(UTC)
        if force or found is None or stale:  # a listener meant to be in date is renewed once its certificate ran out
            pair, chain = self._make(listener)
            self._save(files, pair, *chain)
        return files

    def _make(self, listener: str) -> tuple[Pair, list[Pair]]:
        now = datetime.now(UTC)
        first = self.hosts[0]
        if listener == "self-signed":
            return ca.issue(None, first, self.hosts), []
        if listener == "expired":
            start, end = now - timedelta(days=60), now - timedelta(days=30)
            return ca.issue(self.ca(), first, self.hosts, not_before=start, not_after=end), []
        if listener == "not-yet-valid":
            start, end = now + timedelta(days=3650), now + timedelta(days=3650 + ca.LEAF_DAYS)
            return ca.issue(self.ca(), first, self.hosts, not_before=start, not_after=end), []
        if listener == "wrong-host":
            return ca.issue(self.ca(), WRONG_HOST, [WRONG_HOST]), []
        if listener == "untrusted-root":
            root = self._root("lab/untrusted-ca", UNTRUSTED_CA_NAME)
            return ca.issue(root, first, self.hosts), [root]  # the whole chain, root included: still untrusted
        if listener == "incomplete-chain":
            files = self.files("lab/intermediate")
            intermediate = self._load(files)
            if intermediate is None:
                intermediate = ca.make_ca(INTERMEDIATE_NAME, parent=self.ca())
                self._save(files, intermediate)
            return ca.issue(intermediate, first, self.hosts), []  # the intermediate is not sent
        if listener == "weak-key":
            return ca.issue(self.ca(), first, self.hosts, weak=True), []
        return ca.issue(self.ca(), first, self.hosts), []  # valid, tls1.0, tls1.1, mtls-*
