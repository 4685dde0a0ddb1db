"""JSON logging to stderr: one object per line, level from ``LOG_LEVEL``."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower().replace("warning", "warn"),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return one_line(json.dumps(entry, default=str, ensure_ascii=False))


# Characters JSON allows raw in a string that some log readers treat as line breaks (U+0085 NEL, U+2028, U+2029),
# and lone surrogates, which no UTF-8 stream can carry: written as \uXXXX escapes, so one record stays one line
# and a path like "/v1/x\u2028{...}" cannot forge a second log entry.
_LINE_BREAKING = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def one_line(text: str) -> str:
    if text.isascii():
        return text
    return _LINE_BREAKING.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def level_from_env(environ: dict[str, str] | None = None) -> int:
    raw = (environ if environ is not None else os.environ).get("LOG_LEVEL", "info").strip().lower()
    return LEVELS.get(raw, logging.INFO)


def configure(level: int | None = None) -> None:
    """Route the ``apitest`` loggers (and uvicorn's error log) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    for name in ("apitest", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level if level is not None else level_from_env())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our access log replaces it


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _SafeLogger(logging.Logger):
    """``extra`` keys that would overwrite a LogRecord field (``name``, ``module``, ...) are kept as
    ``<key>_``: the standard library raises KeyError there, and only when the level is enabled, so a
    log call that passes every test at WARNING would turn a request into a 500 in production at INFO."""

    def makeRecord(
        self,
        name: str,
        level: int,
        fn: str,
        lno: int,
        msg: object,
        args: Any,
        exc_info: Any,
        func: str | None = None,
        extra: Mapping[str, object] | None = None,
        sinfo: str | None = None,
    ) -> logging.LogRecord:
        if extra:
            extra = {f"{k}_" if k in _RECORD_FIELDS else k: v for k, v in extra.items()}
        return super().makeRecord(name, level, fn, lno, msg, args, exc_info, func, extra, sinfo)


def get(name: str) -> logging.Logger:
    logger = logging.getLogger(f"apitest.{name}")
    if type(logger) is logging.Logger:
        logger.__class__ = _SafeLogger  # the same state plus one method: safe for a plain Logger
    return logger


def fast_write(logger: logging.Logger, msg: str, extra: dict[str, object]) -> bool:
    """Write one INFO line for ``logger`` straight to the JSON handler :func:`configure` installed, without a
    ``LogRecord``: the same JSON :class:`JSONFormatter` renders for ``logger.info(msg, extra=extra)`` (the
    extras here are plain values whose names no LogRecord field shadows). ``False`` when the logger is set
    up any other way (tests capturing records, a handler added by an embedding app): then the caller logs
    normally."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:  # the handlers a record would reach, as Logger.callHandlers walks them
        if current.filters or current.disabled:
            return False
        handlers += current.handlers
        current = current.parent if current.propagate else None
    if len(handlers) != 1:
        return False
    handler = handlers[0]
    if type(handler) is not logging.StreamHandler or type(handler.formatter) is not JSONFormatter or handler.filters:
        return False
    if handler.level > logging.INFO:
        return False
    entry: dict[str, Any] = {
        "time": _now_text(),
        "level": "info",
        "logger": logger.name,
        "msg": msg,
        **extra,
    }
    line = one_line(json.dumps(entry, default=str, ensure_ascii=False))
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.flush()
    except Exception:
        handler.handleError(logging.makeLogRecord({"msg": msg}))
    finally:
        handler.release()
    return True


def _now_text() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
