"""postgresql keyword bigram index

Revision ID: 5c1e2f0a9b31
Revises: 4489507804a3
Create Date: 2026-11-25 17:50:00
"""

from __future__ import annotations

from alembic import op

revision = "5c1e2f0a9b31"
down_revision = "4489507804a3"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION minsheng_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(x.s, i, 2)), '{}')
  FROM (SELECT lower(t) AS s) AS x, generate_series(1, length(x.s) - 1) AS i
$$
"""
INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_documents_bigrams ON documents "
    "USING gin (minsheng_bigrams(coalesce(title, '') || ' ' || content))"
)


def upgrade() -> None:
    # PostgreSQL only: every adjacent character pair of title + content in a GIN index, so a
    # keyword of two or more characters reads only the documents holding all its pairs (see
    # storage/search_index.py; SQLite has its FTS5 table of the same pairs).
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(INDEX)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_documents_bigrams")
    op.execute("DROP FUNCTION IF EXISTS minsheng_bigrams(text)")
