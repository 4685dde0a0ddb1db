"""Give the connection-fault endpoints (``/v1/fault/{kind}``) a handle on the client connection.

ASGI exposes no socket to the app, so an app cannot reset a connection or close it without answering.
uvicorn's ``receive`` callable is a bound method of its per-request cycle object, whose ``transport`` is
the asyncio (or uvloop) transport of the connection. :class:`apitest.middleware.edge.Edge`, outermost so it
sees uvicorn's own ``receive``, stores that transport in the scope under :data:`TRANSPORT_KEY`. Under any
other server (or the in-process test client) nothing is stored and the faults that need the transport
answer 501 instead of pretending.

This relies on uvicorn internals (``RequestResponseCycle.receive`` / ``.transport``, the same in its
h11 and httptools protocols); ``tests/middleware/test_connection.py`` fails if a uvicorn upgrade changes
them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from starlette.types import Receive, Scope

TRANSPORT_KEY = "apitest.transport"


@runtime_checkable
class Transport(Protocol):
    """What the fault endpoints use of an asyncio/uvloop transport."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


_VERDICTS: dict[type, bool] = {}  # transport class -> whether it has the Transport members


def is_transport(value: object) -> bool:
    """``isinstance(value, Transport)``, remembered per class: a runtime-checkable protocol inspects every
    member on each check (about 12 µs), and this runs on every request."""
    kind = type(value)
    verdict = _VERDICTS.get(kind)
    if verdict is None:
        verdict = _VERDICTS[kind] = isinstance(value, Transport)
    return verdict


def server_transport(receive: Receive) -> Transport | None:
    """The transport behind uvicorn's ``receive``, or ``None`` under another server."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    return transport if is_transport(transport) else None


def transport_of(scope: Scope) -> Transport | None:
    transport = scope.get(TRANSPORT_KEY)
    return transport if is_transport(transport) else None
