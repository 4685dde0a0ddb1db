"""Database keys: ``/v1/whoami`` with 10,000 keys in the table vs 1, on SQLite and (when reachable)
PostgreSQL. The measurement lives in ``bench/auth_keys.py``, which also runs on its own."""

from __future__ import annotations

from bench.auth_keys import run

__all__ = ["run"]
