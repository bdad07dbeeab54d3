"""encoder backlog indexes

Revision ID: e8c3a5f1d726
Revises: d4f7b2e8a615
Create Date: 2026-12-06 09:30:00

The encoder tier's backlog is found by index seeks (storage/encodings.py): documents still waiting
for the encoder are the ``doc_tags`` rows with ``tier = 'fast'``, held in three partial indexes
(newest first overall, per channel, per topic) that shrink as the encoder catches up; documents
encoded by another encoder version are sought on ``encoder_tags (model_version, channel,
document_id)``. Tag rows the fast tier failed on get ``tier = 'fastonly'`` (the encoder passes
them over).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import Json

revision = "e8c3a5f1d726"
down_revision = "d4f7b2e8a615"
branch_labels = None
depends_on = None

PENDING = sa.text("tier = 'fast'")
INDEXES = {
    "ix_doc_tags_encoder_pending_published_at": ["published_at"],
    "ix_doc_tags_encoder_pending_channel_published_at": ["channel", "published_at"],
    "ix_doc_tags_encoder_pending_topic_id_published_at": ["topic_id", "published_at"],
}


def upgrade() -> None:
    tags = sa.table(
        "doc_tags", sa.column("tier", sa.String(8)), sa.column("model_versions", Json)
    )
    failed = tags.c.model_versions["failed"].as_string().is_not(None)
    op.execute(tags.update().where(failed).values(tier="fastonly"))
    for name, columns in INDEXES.items():
        op.create_index(name, "doc_tags", columns, sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index(
        "ix_encoder_tags_model_version_channel_document_id",
        "encoder_tags",
        ["model_version", "channel", "document_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_encoder_tags_model_version_channel_document_id", table_name="encoder_tags")
    for name in INDEXES:
        op.drop_index(name, table_name="doc_tags")
    tags = sa.table("doc_tags", sa.column("tier", sa.String(8)))
    op.execute(tags.update().where(tags.c.tier == "fastonly").values(tier="fast"))
