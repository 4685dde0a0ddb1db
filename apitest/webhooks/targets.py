"""Where deliveries may go: ``webhooks.allowed_hosts``, checked when a subscription is saved and before
every attempt.

- The URL must be ``http`` or ``https``, with a host and no user name or password in it (a credential in
  a URL ends up in logs).
- Its host must be listed: an exact name or IP (``hooks.example.com``, ``127.0.0.1``, ``[::1]``), or a
  wildcard ``*.example.com`` for its subdomains. An empty list allows nothing.
- Loopback, link-local, unspecified and multicast addresses are refused unless the host is listed by
  that literal address or as ``localhost``: before each attempt the host is resolved, and a listed
  name that resolves to such an address is refused (a DNS answer cannot turn an allowed public name
  into ``127.0.0.1`` or the cloud metadata address). The check resolves once and httpx resolves again
  when it connects; a name that changes its answer in between is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

SPECIAL = "loopback, link-local, unspecified or multicast"


class TargetRefused(ValueError):
    """The URL may not be delivered to; the message says why."""


def host_of(url: str) -> str:
    """The URL's host, lower case, IPv6 without brackets; raises :class:`TargetRefused` for a bad URL."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a bad port
    except ValueError as exc:
        raise TargetRefused(f"url: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("url: must be http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url: must not carry a user name or password")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("url: has no host")
    del port
    return host


def _special(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast


def _listed(host: str, allowed: Sequence[str]) -> bool:
    for entry in allowed:
        entry = entry.strip().lower().strip("[]")
        if entry == host:
            return True
        if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
            return True
    return False


def check_url(url: str, allowed: Sequence[str]) -> str:
    """Refuse a URL whose host is not listed; returns the host."""
    host = host_of(url)
    if not _listed(host, allowed):
        raise TargetRefused(f"host {host!r} is not in webhooks.allowed_hosts")
    return host


def _special_allowed(host: str, allowed: Sequence[str]) -> bool:
    """A special address is reachable only through an exact listing of itself or of ``localhost``."""
    exact = {entry.strip().lower().strip("[]") for entry in allowed}
    return host in exact and (_special(host) or host == "localhost")


async def check_resolved(url: str, allowed: Sequence[str]) -> None:
    """:func:`check_url`, then refuse a listed name that resolves to a special address it is not."""
    host = check_url(url, allowed)
    if _special_allowed(host, allowed):
        return
    if _special(host):
        raise TargetRefused(f"{host} is a {SPECIAL} address; list it exactly in webhooks.allowed_hosts to allow it")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if _special(address):
            raise TargetRefused(
                f"{host} resolves to {address}, a {SPECIAL} address; list {address} in webhooks.allowed_hosts "
                "to allow it"
            )
