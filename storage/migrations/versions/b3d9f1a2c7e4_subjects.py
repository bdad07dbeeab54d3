"""subjects (专题) and their matched documents

Revision ID: b3d9f1a2c7e4
Revises: b7e2c4a91f3d
Create Date: 2026-12-06 05:10:00

``subjects`` holds each subject's expression, exclusion words, filters and active flag;
``subject_documents`` records which documents match it and when the match was recorded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "b3d9f1a2c7e4"
down_revision = "b7e2c4a91f3d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("exclude", storage.types.Json, nullable=False),
        sa.Column("channels", storage.types.Json, nullable=False),
        sa.Column("sources", storage.types.Json, nullable=False),
        sa.Column("regions", storage.types.Json, nullable=False),
        sa.Column("categories", storage.types.Json, nullable=False),
        sa.Column("subscribers", storage.types.Json, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("backfilled_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("name", name=op.f("uq_subjects_name")),
    )
    op.create_table(
        "subject_documents",
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("published_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("matched_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_subject_documents_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_subject_documents_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subject_id", "document_id", name=op.f("pk_subject_documents")),
    )
    op.create_index(
        "ix_subject_documents_subject_id_published_at", "subject_documents", ["subject_id", "published_at"]
    )
    op.create_index("ix_subject_documents_document_id", "subject_documents", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_subject_documents_document_id", table_name="subject_documents")
    op.drop_index("ix_subject_documents_subject_id_published_at", table_name="subject_documents")
    op.drop_table("subject_documents")
    op.drop_table("subjects")
