"""Logging set-up: operators' logs carry ids and kinds, not what people typed, unless
debug logging is on (log_level: DEBUG)."""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MOST = 200  # characters of an error's first line kept in a log line
# What a log line may carry besides its message (see bot.inbox), as JSON keys.
FIELDS = ("event", "kind", "community", "action", "latency_ms", "delivery", "platform")


class Text(logging.Formatter):
    """`2026-12-01T09:00:00.123Z INFO name: message`: times in UTC, to the millisecond."""

    converter = time.gmtime  # type: ignore[assignment]
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class Redacting(Text):
    """Errors in a log line shrink to their first line (database drivers put the values of
    a failed statement on the lines after it), and tracebacks show where, not what: each
    frame's file, line and code, and the exception's type without its message."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(self.redacted(record))

    @staticmethod
    def redacted(record: logging.LogRecord) -> logging.LogRecord:
        # A copy: another handler may have cached the full traceback text on the record.
        copy = {**record.__dict__, "exc_text": None}
        if isinstance(record.args, tuple):
            copy["args"] = tuple(_safe(a) for a in record.args)
        return logging.makeLogRecord(copy)

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        kind, _, tb = ei
        frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
        name = kind.__qualname__ if kind is not None else "Exception"
        return (
            "Traceback (its message is left out; log_level: DEBUG shows it):\n"
            f"{frames}{kind.__module__ if kind is not None else ''}.{name}"
        )


class Json(Text):
    """One JSON object per line: time, level, logger, message, the fields in FIELDS that the
    line carries, and an error's traceback (redacted as in Redacting unless `full`)."""

    def __init__(self, full: bool = False) -> None:
        super().__init__()
        self.full = full
        self._redacting = Redacting()

    def format(self, record: logging.LogRecord) -> str:
        if not self.full:
            record = Redacting.redacted(record)
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: record.__dict__[key] for key in FIELDS if key in record.__dict__})
        if record.exc_info:
            shown = self.formatException if self.full else self._redacting.formatException
            line["error"] = shown(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _safe(arg: object) -> object:
    if not isinstance(arg, BaseException):
        return arg
    first = (str(arg).splitlines() or [""])[0]
    first = first if len(first) <= _MOST else first[: _MOST - 1] + "…"
    return f"{type(arg).__name__}: {first}" if first else type(arg).__name__


def configure(level: str, fmt: str = "text") -> None:
    """Log at `level` to standard error, as text lines or (`fmt` json) JSON lines; below
    DEBUG, with people's text kept out."""
    handler = logging.StreamHandler()
    debug = logging.getLevelName(level) <= logging.DEBUG
    if fmt == "json":
        handler.setFormatter(Json(full=debug))
    else:
        handler.setFormatter(Text(FORMAT) if debug else Redacting(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Migration chatter on every start is noise; failures still surface as exceptions.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The alarm clock rings often; each ring would log two lines.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
