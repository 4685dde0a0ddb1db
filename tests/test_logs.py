"""apitest/logs.py: JSON lines, LOG_LEVEL, and log calls that cannot break a request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apitest import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The apitest loggers writing JSON to a buffer at DEBUG; their previous state restored afterwards."""
    names = ("apitest", "uvicorn.error")
    saved = [(logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names]
    saved_propagate = [logging.getLogger(n).propagate for n in names]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter())
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    yield stream
    for (logger, handlers, level), propagate in zip(saved, saved_propagate, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_extra_named_like_a_record_field_does_not_raise(captured: io.StringIO) -> None:
    log = logs.get("test.safe")
    log.info("api key created", extra={"name": "ci", "module": "m", "message": "x", "prefix": "at_1234"})
    (entry,) = lines(captured)
    assert entry["msg"] == "api key created"
    assert entry["logger"] == "apitest.test.safe"  # the record's own name is untouched
    assert (entry["name_"], entry["module_"], entry["message_"], entry["prefix"]) == ("ci", "m", "x", "at_1234")


def test_a_plain_logger_would_raise() -> None:
    """What the safe logger guards against (the standard library's behaviour at an enabled level)."""
    plain = logging.Logger("plain")
    plain.addHandler(logging.NullHandler())
    with pytest.raises(KeyError, match="overwrite 'name'"):
        plain.warning("x", extra={"name": "ci"})


def test_json_line_fields_and_exceptions(captured: io.StringIO) -> None:
    log = logs.get("test.json")
    log.warning("something", extra={"request_id": "r-1", "status": 503})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    warn, error = lines(captured)
    assert warn["level"] == "warn" and warn["request_id"] == "r-1" and warn["status"] == 503
    assert warn["time"].endswith("Z")
    assert error["level"] == "error" and error["exc_type"] == "ValueError" and "boom" in error["traceback"]


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("debug", logging.DEBUG),
        ("INFO", logging.INFO),
        ("warn", logging.WARNING),
        ("Warning", logging.WARNING),
        ("error", logging.ERROR),
        ("", logging.INFO),
        ("loud", logging.INFO),
    ],
)
def test_level_from_env(value: str, level: int) -> None:
    assert logs.level_from_env({"LOG_LEVEL": value}) == level


def test_line_separators_and_lone_surrogates_cannot_split_or_break_a_line(captured: io.StringIO) -> None:
    log = logs.get("test")
    forged = '/v1/x\u2028{"level":"error"}\u0085\u2029\ud800'
    log.warning("path seen", extra={"path": forged})
    text = captured.getvalue()
    text.encode("utf-8")
    assert len(text.splitlines()) == 1  # str.splitlines splits on U+0085, U+2028 and U+2029
    assert "\\u2028" in text and "\\u0085" in text and "\\u2029" in text and "\\ud800" in text
    assert lines(captured)[0]["path"] == forged


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Any]:
    """A real file (with a descriptor, as stderr has), which the turn buffer serves."""
    with open(tmp_path / "access.log", "w", encoding="utf-8") as stream:
        yield stream


async def test_access_lines_of_one_loop_turn_are_written_together_in_order(tmp_path: Path, log_file: Any) -> None:
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logs.JSONFormatter())
    logger = logging.getLogger("apitest.turn-test")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for n in range(3):
            assert logs.write_access(logger, "GET", f"/p{n}", 200, 0, 0.1, "id", None, None)
        assert (tmp_path / "access.log").read_text() == ""  # still in this turn
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        lines = (tmp_path / "access.log").read_text().splitlines()
        assert [json.loads(line)["path"] for line in lines] == ["/p0", "/p1", "/p2"]
    finally:
        logger.handlers[:] = []
