"""backlog index on doc_tags version and id

Revision ID: a7ca607471bf
Revises: 147ea5849edb
Create Date: 2026-11-25 16:51:00.322460
"""

from __future__ import annotations

from alembic import op

revision = "a7ca607471bf"
down_revision = "147ea5849edb"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Outdated tags are found by seeking (pipeline_version, document_id), newest first.
    op.drop_index("ix_doc_tags_pipeline_version", table_name="doc_tags")
    op.create_index(
        "ix_doc_tags_pipeline_version_document_id", "doc_tags", ["pipeline_version", "document_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_doc_tags_pipeline_version_document_id", table_name="doc_tags")
    op.create_index("ix_doc_tags_pipeline_version", "doc_tags", ["pipeline_version"])
