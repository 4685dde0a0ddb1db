"""Host names as the ``Host`` allow-list compares them (``portal.allowed_hosts``)."""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def host_name(value: str) -> str:
    """The host of a ``Host`` header or URL authority, lower-cased, without the port (``[::1]`` kept)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def default_allowed_hosts(base_url: str) -> list[str]:
    """``portal.allowed_hosts`` when left empty: the host of ``server.base_url`` and the loopback names."""
    hosts = [host_name(urlsplit(base_url).netloc.rpartition("@")[2])] if base_url else []
    return list(dict.fromkeys(h for h in [*hosts, *LOOPBACK_HOSTS] if h))


def is_loopback(host: str) -> bool:
    """A listen host that only this machine reaches (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    host = host.strip().strip("[]").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
