"""user sessions and login throttle

Revision ID: e5b7a3c9d214
Revises: e5b1d7a3c920
Create Date: 2026-12-06 04:20:00

``users.session_epoch`` is raised by a password reset, a role change or disabling a user; a
dashboard session remembers the value it logged in with and ends when it differs. Failed logins
are counted in ``login_throttle`` per account and per client address, so a lock-out outlives the
browser session that caused it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "e5b7a3c9d214"
down_revision = "e5b1d7a3c920"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("session_epoch", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.create_table(
        "login_throttle",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", storage.types.UTCDateTime(), nullable=False),
        sa.Column("locked_until", storage.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_login_throttle")),
    )
    op.create_index("ix_login_throttle_updated_at", "login_throttle", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_login_throttle_updated_at", table_name="login_throttle")
    op.drop_table("login_throttle")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("session_epoch")
