"""events on subjects

Revision ID: c9e3a7d5b214
Revises: b8d4f1a6c372
Create Date: 2026-12-06 05:50:00

An event (政策出台 / 现场处置 / 官方回应) may be marked on a 专题 as well as on a topic or a category:
``events.subject_id``, so the subject page shows the government's actions with their effect.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c9e3a7d5b214"
down_revision = "b8d4f1a6c372"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_events_subject_id_subjects", "subjects", ["subject_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("fk_events_subject_id_subjects", type_="foreignkey")
        batch.drop_column("subject_id")
