"""The migrations build exactly the schema that storage/schema.py declares, on both backends."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, bindparam, text

from storage import schema as s
from storage import search_index

# Built by migrations or at run time on purpose, outside the declared metadata.
KEYWORD_INDEX_TABLES = {search_index.TABLE} | {
    f"{search_index.TABLE}_{part}" for part in ("config", "data", "docsize", "idx", "content")
}


def _index_names(engine: Engine) -> set[str]:
    """Every index the database holds on the declared tables, expression indexes included
    (SQLAlchemy's inspector skips those on SQLite)."""
    tables = [t.name for t in s.metadata.sorted_tables]
    if engine.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN :t"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN :t"
    with engine.connect() as conn:
        return set(conn.execute(text(sql).bindparams(bindparam("t", tables, expanding=True))).scalars())


def test_every_declared_index_is_created_by_the_migrations(engine: Engine) -> None:
    declared = {i.name for t in s.metadata.sorted_tables for i in t.indexes}
    built = _index_names(engine)
    assert declared - built == set(), "declared in storage/schema.py, but no migration creates it"
    extra = built - declared - {search_index.PG_INDEX}
    assert all(
        name.startswith(("sqlite_autoindex", "pk_", "uq_")) or name.endswith("_pkey") or name.endswith("_key")
        for name in extra
    ), extra


def test_migrations_match_the_declared_tables_and_columns(engine: Engine) -> None:
    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expression indexes can't be reflected on SQLite
        diffs = compare_metadata(MigrationContext.configure(conn), s.metadata)
    left = []
    for diff in diffs:
        kind, obj = (diff[0], diff[1]) if isinstance(diff, tuple) else (diff[0][0], diff[0])
        if kind == "remove_table" and getattr(obj, "name", "") in KEYWORD_INDEX_TABLES:
            continue
        if kind == "remove_index" and getattr(obj, "name", "") == search_index.PG_INDEX:
            continue
        left.append(diff)
    assert left == []
