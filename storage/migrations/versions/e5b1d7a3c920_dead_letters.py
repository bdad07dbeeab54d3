"""dead letters

Revision ID: e5b1d7a3c920
Revises: c4a8e2d9f153
Create Date: 2026-12-06 04:40:00

Items a source could not store, and documents the NLP worker could not tag, are kept aside in
``dead_letters`` (source, row or line, error class, short message, how to re-read the item)
instead of failing their whole batch again on every run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "e5b1d7a3c920"
down_revision = "c4a8e2d9f153"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "dead_letters",
        sa.Column("id", big, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=300), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("document_id", big, nullable=True),
        sa.Column("error_class", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("locator", storage.types.Json, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_dead_letters_source_id_sources"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_dead_letters_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index("ix_dead_letters_source_id_status", "dead_letters", ["source_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_source_id_status", table_name="dead_letters")
    op.drop_table("dead_letters")
