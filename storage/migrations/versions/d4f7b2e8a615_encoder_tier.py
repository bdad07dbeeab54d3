"""encoder tier

Revision ID: d4f7b2e8a615
Revises: c9e3a7d5b214
Create Date: 2026-12-06 07:10:00

The encoder tier (issue 21): ``doc_tags.tier`` says which tier a document's sentiment, emotion and
category came from; ``encoder_tags`` holds each document's stored embedding and the encoder tier's
own tags with their model version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import BigId, UTCDateTime

revision = "d4f7b2e8a615"
down_revision = "c9e3a7d5b214"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both backends (SQLite >= 3.35 drops columns too): a batch copy of
    # doc_tags would reflect its neighbours, whose expression indexes SQLAlchemy cannot reflect.
    op.add_column("doc_tags", sa.Column("tier", sa.String(8), nullable=False, server_default="fast"))
    op.create_table(
        "encoder_tags",
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("sentiment", sa.String(16)),
        sa.Column("sentiment_score", sa.Float()),
        sa.Column("emotion", sa.String(16)),
        sa.Column("emotion_score", sa.Float()),
        sa.Column("category", sa.String(32)),
        sa.Column("category_score", sa.Float()),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("encoded_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_encoder_tags_document_id_documents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("document_id", name="pk_encoder_tags"),
    )
    op.create_index(
        "ix_encoder_tags_model_version_document_id", "encoder_tags", ["model_version", "document_id"]
    )
    op.create_index("ix_encoder_tags_published_at", "encoder_tags", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_encoder_tags_published_at", table_name="encoder_tags")
    op.drop_index("ix_encoder_tags_model_version_document_id", table_name="encoder_tags")
    op.drop_table("encoder_tags")
    op.drop_column("doc_tags", "tier")
