"""Logging set-up: operators' logs carry ids and kinds, not what people typed, unless
debug logging is on (log_level: DEBUG)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

FORMAT = "%(levelname)s %(name)s: %(message)s"
_MOST = 200  # characters of an error's first line kept in a log line


class Redacting(logging.Formatter):
    """Errors in a log line shrink to their first line (database drivers put the values of
    a failed statement on the lines after it), and tracebacks show where, not what: each
    frame's file, line and code, and the exception's type without its message."""

    def format(self, record: logging.LogRecord) -> str:
        # A copy: another handler may have cached the full traceback text on the record.
        copy = {**record.__dict__, "exc_text": None}
        if isinstance(record.args, tuple):
            copy["args"] = tuple(_safe(a) for a in record.args)
        return super().format(logging.makeLogRecord(copy))

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        kind, _, tb = ei
        frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
        name = kind.__qualname__ if kind is not None else "Exception"
        return (
            "Traceback (its message is left out; log_level: DEBUG shows it):\n"
            f"{frames}{kind.__module__ if kind is not None else ''}.{name}"
        )


def _safe(arg: object) -> object:
    if not isinstance(arg, BaseException):
        return arg
    first = (str(arg).splitlines() or [""])[0]
    first = first if len(first) <= _MOST else first[: _MOST - 1] + "…"
    return f"{type(arg).__name__}: {first}" if first else type(arg).__name__


def configure(level: str) -> None:
    """Log at `level` to standard error; below DEBUG, with people's text kept out."""
    handler = logging.StreamHandler()
    debug = logging.getLevelName(level) <= logging.DEBUG
    handler.setFormatter(logging.Formatter(FORMAT) if debug else Redacting(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Migration chatter on every start is noise; failures still surface as exceptions.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The alarm clock rings often; each ring would log two lines.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
