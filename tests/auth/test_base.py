from __future__ import annotations

from apitest.auth.base import Invalid, SecretTable, describe


def test_secret_table_matches_exactly() -> None:
    table = SecretTable([("alpha", 1), ("beta", 2)])
    assert table.match("alpha") == 1
    assert table.match("beta") == 2
    assert table.match("alph") is None
    assert table.match("alphaa") is None
    assert table.match("") is None
    assert len(table) == 2


def test_secret_table_last_match_wins_and_empty_secrets_never_match() -> None:
    table = SecretTable([("same", "first"), ("", "empty"), ("same", "last")])
    assert table.match("same") == "last"
    assert table.match("") is None
    assert len(table) == 2


def test_invalid_message_and_describe() -> None:
    assert Invalid("unknown key").message == "unknown key"
    assert Invalid("expired key", "db key at_abc").message == "expired key (db key at_abc)"
    error = RuntimeError("(sqlite3.OperationalError) no such table\n[SQL: SELECT ...]\n[parameters: ('digest',)]")
    assert describe(error) == "RuntimeError: (sqlite3.OperationalError) no such table"
    assert describe(TimeoutError()) == "TimeoutError"
