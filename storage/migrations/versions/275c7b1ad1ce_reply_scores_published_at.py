"""reply_scores published_at

Revision ID: 275c7b1ad1ce
Revises: a7ca607471bf
Create Date: 2026-11-25 17:13:27.009617
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "275c7b1ad1ce"
down_revision = "a7ca607471bf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The message's time is copied so that a period's replies are read from reply_scores first.
    op.add_column("reply_scores", sa.Column("published_at", storage.types.UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE reply_scores SET published_at = "
        "(SELECT documents.published_at FROM documents WHERE documents.id = reply_scores.document_id)"
    )
    op.create_index("ix_reply_scores_published_at", "reply_scores", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_reply_scores_published_at", table_name="reply_scores")
    with op.batch_alter_table("reply_scores") as batch_op:
        batch_op.drop_column("published_at")
