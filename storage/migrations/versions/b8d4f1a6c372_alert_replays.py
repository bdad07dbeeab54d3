"""alert replays

Revision ID: b8d4f1a6c372
Revises: b3d9f1a2c7e4
Create Date: 2026-12-06 05:20:00

``alert_replays`` holds what the configured rules would have raised over history
(``sensing alerts replay``), apart from ``alerts``: never notified, never counted as raised.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import storage.types

revision = "b8d4f1a6c372"
down_revision = "b3d9f1a2c7e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_replays",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=True,
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("first_seen", storage.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", storage.types.UTCDateTime(), nullable=False),
        sa.Column("replayed_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_replays")),
    )
    op.create_index("ix_alert_replays_first_seen", "alert_replays", ["first_seen"])


def downgrade() -> None:
    op.drop_index("ix_alert_replays_first_seen", table_name="alert_replays")
    op.drop_table("alert_replays")
