"""representative documents index

Revision ID: 9d3f6b2c1e07
Revises: 425fd55ba3ce
Create Date: 2026-11-26 02:00:00
"""

from __future__ import annotations

from alembic import op

revision = "9d3f6b2c1e07"
down_revision = "425fd55ba3ce"
branch_labels = None
depends_on = None

# storage/schema.py declared this expression index but no revision created it, so upgraded stores
# lacked it (autogenerate cannot reflect expression indexes on SQLite and skipped it). It serves
# "most copies first, then most engagement" (storage/document_queries.py). IF NOT EXISTS: stores
# built by bench/queries.py before this revision already have it under the same name.
INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_documents_representative"
    " ON documents (dup_count DESC, (likes + reposts + comments) DESC, id)"
)


def upgrade() -> None:
    op.execute(INDEX)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_documents_representative")
