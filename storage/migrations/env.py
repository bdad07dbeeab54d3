"""Alembic environment: runs against the connection handed over by :mod:`storage.migrate`."""

from __future__ import annotations

from alembic import context

from storage.schema import metadata

config = context.config


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave the SQLite FTS5 keyword index (created by DDL in the migration) out of autogenerate."""
    return not (name or "").startswith("document_grams")


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through storage.migrate (sensing init), not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
