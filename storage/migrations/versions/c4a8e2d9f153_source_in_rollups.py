"""source in the rollups

Revision ID: c4a8e2d9f153
Revises: 9d3f6b2c1e07
Create Date: 2026-11-26 02:45:00

The hourly rollups and the daily and monthly levels get ``source_id`` in their key, so a source
filter reads them instead of the documents (one year of the largest source at 1 M documents:
1.7-11.7 s before). They hold only sums of the tags, so they are emptied and rebuilt: the
watermarks are cleared and the next refresh (the scheduler's ``rollups`` job, every 60 s by
default, or ``sensing process``) rebuilds every hour, day and month from the tags. Until it has
run, charts are empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "c4a8e2d9f153"
down_revision = "9d3f6b2c1e07"
branch_labels = None
depends_on = None

STATE_KEYS = ("rollups.watermark", "rollups.levels_watermark", "rollups.levels_layout")
LEVEL_DIMS = ("category", "province", "city", "district", "topic_id", "sentiment", "emotion")


def _measures() -> list[sa.Column]:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return [
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_unique", sa.Integer(), nullable=False),
        *[sa.Column(m, big, nullable=False) for m in ("likes", "reposts", "comments", "reads")],
    ]


def _dim(name: str) -> sa.Column:
    kind = sa.Integer() if name in ("topic_id", "source_id") else sa.String(length=16 if name in (
        "channel", "sentiment", "emotion") else 32)
    return sa.Column(name, kind, nullable=False)


def _hourly(with_source: bool) -> None:
    dims = ["channel", *(["source_id"] if with_source else []), "category", "province", "topic_id", "sentiment"]
    op.create_table(
        "rollups",
        sa.Column("bucket", storage.types.UTCDateTime(), nullable=False),
        *[_dim(d) for d in dims],
        *_measures(),
        sa.PrimaryKeyConstraint("bucket", *dims, name=op.f("pk_rollups")),
    )
    op.create_index("ix_rollups_category_bucket", "rollups", ["category", "bucket"])
    op.create_index("ix_rollups_province_bucket", "rollups", ["province", "bucket"])
    op.create_index("ix_rollups_topic_bucket", "rollups", ["topic_id", "bucket"])


def _level(name: str, with_source: bool) -> None:
    dims = ["channel", *(["source_id"] if with_source else []), *LEVEL_DIMS]
    op.create_table(
        name,
        sa.Column("grouping", sa.Integer(), nullable=False),
        sa.Column("bucket", storage.types.UTCDateTime(), nullable=False),
        *[_dim(d) for d in dims],
        *_measures(),
        sa.PrimaryKeyConstraint("grouping", "bucket", *dims, name=op.f(f"pk_{name}")),
        sqlite_with_rowid=False,
    )


def _rebuild(with_source: bool) -> None:
    op.drop_index("ix_rollups_daily_grouping_topic_id_bucket", table_name="rollups_daily")
    for table in ("rollups_monthly", "rollups_daily", "rollups"):
        op.drop_table(table)
    _hourly(with_source)
    _level("rollups_daily", with_source)
    _level("rollups_monthly", with_source)
    op.create_index(
        "ix_rollups_daily_grouping_topic_id_bucket", "rollups_daily", ["grouping", "topic_id", "bucket"]
    )
    state = sa.table("app_state", sa.column("key"))
    op.execute(state.delete().where(state.c.key.in_(STATE_KEYS)))


def upgrade() -> None:
    _rebuild(with_source=True)


def downgrade() -> None:
    _rebuild(with_source=False)
