"""JSON logging to stderr: one object per line, level from ``LOG_LEVEL``."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
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
    normally.

    Inside a running event loop, the lines of one loop turn are written together (:class:`_TurnBuffer`) when
    the handler writes to a real file descriptor: one ``write`` for all the requests that ended in that turn
    instead of one each, the lines appearing microseconds later, in order."""
    handler = _json_handler(logger)
    if handler is None:
        return False
    name = logger.name
    parts = ['{"time": "', _now_text(), '", "level": "info", "logger": ']
    parts.append(_NAMES.get(name) or _name(name))
    parts.append(', "msg": ')
    parts.append(encode_basestring(msg))
    for key, value in extra.items():
        parts.append(", ")
        parts.append(_KEYS.get(key) or _key(key))
        parts.append(_value(value))
    parts.append("}")
    line = one_line("".join(parts)) + handler.terminator
    _emit(handler, line, msg)
    return True


def write_access(
    logger: logging.Logger,
    method: str,
    path: str,
    status: int,
    size: int,
    duration_ms: float,
    request_id: str,
    auth_type: str | None,
    subject: str | None,
) -> bool:
    """:func:`fast_write` of the access line (``msg`` ``request``), rendered from one template: the line the
    JSON formatter writes for ``logger.info("request", extra={"method": ..., ...})``, byte for byte."""
    handler = _json_handler(logger)
    if handler is None:
        return False
    line = (
        f'{{"time": "{_now_text()}", "level": "info", "logger": {_NAMES.get(logger.name) or _name(logger.name)}, '
        f'"msg": "request", "method": {encode_basestring(method)}, "path": {encode_basestring(path)}, '
        f'"status": {status:d}, "bytes": {size:d}, "duration_ms": {float.__repr__(duration_ms)}, '
        f'"request_id": {encode_basestring(request_id)}'
    )
    if auth_type is not None:
        line += f', "auth_type": {_value(auth_type)}, "subject": {_value(subject)}'
    line = one_line(line + "}") + handler.terminator
    _emit(handler, line, "request")
    return True


def _emit(handler: logging.StreamHandler[Any], line: str, msg: str) -> None:
    """Hand ``line`` to the handler's turn buffer, or write it now when it has none."""
    buffer = _turn_buffer(handler)
    if buffer is not None:
        buffer.add(line)
    else:
        _write(handler, line, msg)


def _write(handler: logging.StreamHandler[Any], text: str, msg: str) -> None:
    """Write ``text`` to the handler's stream under its lock, as ``StreamHandler.emit`` does."""
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    except Exception:
        handler.handleError(logging.makeLogRecord({"msg": msg}))
    finally:
        handler.release()


def _json_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The one plain JSON stream handler an INFO record of ``logger`` would reach, or None."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:  # the handlers a record would reach, as Logger.callHandlers walks them
        if current.filters or current.disabled:
            return None
        handlers += current.handlers
        current = current.parent if current.propagate else None
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not logging.StreamHandler or type(handler.formatter) is not JSONFormatter or handler.filters:
        return None
    if handler.level > logging.INFO:
        return None
    return handler


# The constant pieces of a line, rendered once: json.dumps writes `"key": value` pairs joined by ", ".
_NAMES: dict[str, str] = {}
_KEYS: dict[str, str] = {}
_INF = float("inf")


def _name(name: str) -> str:
    rendered = encode_basestring(name)
    if len(_NAMES) < 256:
        _NAMES[name] = rendered
    return rendered


def _key(key: str) -> str:
    rendered = encode_basestring(key) + ": "
    if len(_KEYS) < 256:
        _KEYS[key] = rendered
    return rendered


def _value(value: object) -> str:
    """``json.dumps(value, default=str, ensure_ascii=False)``, the common types without its machinery."""
    if isinstance(value, str):
        return str(encode_basestring(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__repr__(value)
    if isinstance(value, float) and value == value and value not in (_INF, -_INF):
        return float.__repr__(value)
    if value is None:
        return "null"
    return json.dumps(value, default=str, ensure_ascii=False)


class _TurnBuffer:
    """The access lines of one event-loop turn, written by one ``write`` at the start of the next turn (and at
    exit). Hand-written rather than ``logging.handlers.MemoryHandler``/``QueueHandler``: those carry
    ``LogRecord`` objects and flush on a count or from a thread, where this holds only strings, needs no
    thread, and flushes as soon as the loop has finished the turn's requests."""

    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self.handler = handler
        self.lines: list[str] = []
        self.scheduled = False

    def add(self, line: str) -> None:
        self.lines.append(line)
        if not self.scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self.scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        lines, self.lines = self.lines, []
        if lines:
            _write(self.handler, "".join(lines), "access log")


_BUFFERS: dict[logging.Handler, _TurnBuffer | None] = {}


def _turn_buffer(handler: logging.StreamHandler[Any]) -> _TurnBuffer | None:
    """The turn buffer of a handler writing to a file descriptor; None for in-memory streams (tests read
    those right after a request)."""
    if handler in _BUFFERS:
        return _BUFFERS[handler]
    try:
        handler.stream.fileno()
    except Exception:
        buffer = None
    else:
        buffer = _TurnBuffer(handler)
    if len(_BUFFERS) < 64:
        _BUFFERS[handler] = buffer
    return buffer


@atexit.register
def flush_access_lines() -> None:
    """Write what is buffered (at exit, and by the server as it stops)."""
    for buffer in list(_BUFFERS.values()):
        if buffer is not None:
            buffer.flush()


_clock: list[Any] = [-1, ""]  # the second rendered last, and its text


def _now_text() -> str:
    """Now as ``JSONFormatter`` writes it (ISO 8601, milliseconds, ``Z``), each second rendered once."""
    now = time.time()
    second = int(now)
    if second != _clock[0]:
        _clock[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _clock[0] = second
    return f"{_clock[1]}.{int((now - second) * 1000):03d}Z"
