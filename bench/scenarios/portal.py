"""Portal over 1,000,000 rows: the audit list's first and filtered pages stay under 200 ms on PostgreSQL.
The measurement lives in ``bench/portal_audit.py``, which also runs on its own."""

from __future__ import annotations

from bench.portal_audit import run

__all__ = ["run"]
