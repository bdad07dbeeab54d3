"""Logging for entry points only: JSON lines when not on a terminal, readable text otherwise.

Tracebacks keep their frames but show each error as its class and a short message
(:func:`kernel.errors.format_traceback`): SQL parameters and row contents never reach the log.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from kernel.errors import format_traceback


class TextFormatter(logging.Formatter):
    """Readable lines; tracebacks without the error's data."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info:
            record.exc_text = None  # another handler may have cached the full, unsafe rendering
        return super().format(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return format_traceback(ei)


class SafeJsonFormatter(JsonFormatter):
    """JSON lines; tracebacks without the error's data."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return format_traceback(ei)


def configure_logging(level: str = "INFO", json_logs: bool | None = None) -> None:
    """Install one handler on the root logger (called by the CLI, never by library code)."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(
            SafeJsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"}
            )
        )
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "jieba", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
