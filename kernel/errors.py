"""Describing an error for records and logs without the data it was about.

SQLAlchemy errors carry the statement and its parameters, and PostgreSQL adds ``DETAIL`` lines
such as ``Failing row contains (...)`` or ``Key (external_id)=(13812345678) already exists``: any
of them may hold personal data. Health rows, job records and log lines therefore keep only the
exception class and the first line of the driver's message (:func:`describe_error`); engines are
made with ``hide_parameters=True`` (``storage.db.make_engine``) as a second guard.
"""

from __future__ import annotations

import re
import traceback
from types import TracebackType

from pydantic import ValidationError

MAX_MESSAGE = 300
# "invalid input syntax for type integer: "13812345678"": the quoted value is row content.
_VALUE_AFTER_TYPE_RE = re.compile(r'(for (?:type|encoding) [^:]{1,60}):\s*".*$')
_SQL_RE = re.compile(r"\s*\[(?:SQL|parameters|SQL parameters)[:\s].*$", re.DOTALL)
_BACKGROUND_RE = re.compile(r"\s*\(Background on this error at: [^)]*\)")


def describe_error(exc: BaseException, limit: int = MAX_MESSAGE) -> str:
    """``ExceptionClass: short message``: the first line of the message, no SQL, parameters or rows.

    For SQLAlchemy statement errors the driver's own message is used (``IntegrityError: UNIQUE
    constraint failed: documents.source_id, documents.external_id``); pydantic validation errors
    list the fields and what was wrong, never the values.
    """
    name = type(exc).__name__
    if isinstance(exc, ValidationError):  # its str() repeats every rejected input value
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        message = "; ".join(f"{'.'.join(map(str, p['loc'])) or '<root>'}: {p['msg']}" for p in problems)
        message = f"{exc.title}: {message}"
    else:
        # SQLAlchemy's StatementError (read by its attributes: the kernel imports no database
        # library) wraps the driver's exception in ``orig``: its message, without the SQL.
        is_statement = hasattr(exc, "statement") and hasattr(exc, "orig")
        source = getattr(exc, "orig", None) if is_statement else exc
        message = "" if source is None else str(source)
    message = _BACKGROUND_RE.sub("", _SQL_RE.sub("", message)).strip()
    first = message.splitlines()[0].strip() if message else ""
    first = _VALUE_AFTER_TYPE_RE.sub(r"\1: <value>", first)
    if len(first) > limit:
        first = first[: limit - 1] + "…"
    return f"{name}: {first}" if first else name


def format_traceback(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """A traceback for logs: the frames (code, not data) and :func:`describe_error` of the error.

    Chained exceptions are left out: their messages are as likely to hold row contents.
    """
    _type, exc, tb = exc_info
    return "".join(["Traceback (most recent call last):\n", *traceback.format_tb(tb), describe_error(exc)])
