"""An OpenID provider for tests: oidc-provider-mock served by werkzeug on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator

import authlib.deprecate  # noqa: F401  (Authlib's "always" filter first, so the one below wins)
import werkzeug.serving

with warnings.catch_warnings():
    # The mock is built on authlib.jose, which Authlib itself now calls deprecated.
    warnings.filterwarnings("ignore", message="authlib.jose module is deprecated", category=DeprecationWarning)
    from oidc_provider_mock import app as provider_app


@contextlib.contextmanager
def oidc_provider(*, require_nonce: bool = True) -> Iterator[str]:
    """Yield the issuer URL (``http://127.0.0.1:<port>``) of a running provider; any ``sub`` may sign in."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = werkzeug.serving.make_server("127.0.0.1", 0, provider_app(require_nonce=require_nonce), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
