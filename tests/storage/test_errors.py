"""Errors from the database are recorded and logged without SQL parameters or row contents."""

from __future__ import annotations

import logging
import sys

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError, StatementError

from kernel.errors import describe_error
from kernel.logs import SafeJsonFormatter, TextFormatter
from storage import schema as s
from storage.db import is_sqlite, write_tx
from storage.types import utcnow

SECRET = "13812345678"


def _duplicate_source(engine: Engine) -> IntegrityError:
    row = {"name": SECRET, "kind": "rss", "cursor": {}, "created_at": utcnow(), "updated_at": utcnow()}
    with write_tx(engine) as conn:
        conn.execute(insert(s.sources).values(**row))
    with pytest.raises(IntegrityError) as caught, write_tx(engine) as conn:
        conn.execute(insert(s.sources).values(**row))
    return caught.value


def test_database_errors_keep_class_and_short_message_only(engine: Engine) -> None:
    exc = _duplicate_source(engine)
    text = describe_error(exc)
    assert text.startswith("IntegrityError: ")
    assert "sources" in text or "unique" in text.lower()
    assert SECRET not in text and "INSERT" not in text and "\n" not in text
    if is_sqlite(engine):  # PostgreSQL repeats the key in its DETAIL line; describe_error drops it
        assert SECRET not in str(exc)  # hide_parameters=True: the statement's values are not shown
    else:
        assert SECRET in str(exc)  # what describe_error protects the records from


def test_statement_error_values_and_long_messages_are_cut() -> None:
    orig = ValueError('invalid input syntax for type integer: "13812345678"\nDETAIL: row (张三, 13812345678)')
    exc = StatementError("bad", "INSERT INTO t VALUES (?)", {"x": SECRET}, orig)
    assert describe_error(exc) == "StatementError: invalid input syntax for type integer: <value>"
    assert describe_error(KeyError("content")) == "KeyError: 'content'"
    assert describe_error(RuntimeError()) == "RuntimeError"
    assert len(describe_error(RuntimeError("x" * 5000))) < 320


def test_validation_errors_name_fields_not_values() -> None:
    from pydantic import BaseModel

    class Pushed(BaseModel):
        id: int
        likes: int

    with pytest.raises(ValidationError) as caught:
        Pushed.model_validate({"id": "我叫张三 13812345678", "likes": "many"})
    text = describe_error(caught.value)
    assert text.startswith("ValidationError: Pushed: id: Input should be a valid integer")
    assert "likes: " in text and SECRET not in text and "张三" not in text and "many" not in text


@pytest.mark.parametrize("formatter", [TextFormatter("%(message)s"), SafeJsonFormatter("%(message)s")])
def test_log_tracebacks_hold_no_row_contents(engine: Engine, formatter: logging.Formatter) -> None:
    exc = _duplicate_source(engine)
    try:
        raise RuntimeError("storing the batch failed") from exc  # the cause is not printed either
    except RuntimeError:
        wrapped = logging.LogRecord("t", logging.ERROR, __file__, 1, "store failed", None, sys.exc_info())
    direct = logging.LogRecord("t", logging.ERROR, __file__, 1, "store failed", None, (type(exc), exc, None))
    direct.exc_info = (type(exc), exc, exc.__traceback__)
    for record in (wrapped, direct):
        line = formatter.format(record)
        assert "store failed" in line and "Traceback" in line
        assert SECRET not in line and "INSERT" not in line
    assert "IntegrityError" in line and "_duplicate_source" in line  # class and frames are kept
