"""llm calls and briefings

Revision ID: b7e2c4a91f3d
Revises: e5b7a3c9d214
Create Date: 2026-12-06 05:10:00

``llm_calls`` records every call to the office's large model (model, prompt hash, tokens, latency,
outcome; never the prompt). ``briefings`` holds each model-written briefing as published after
verification, with the facts it was given and the verification result, so it can be audited.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "b7e2c4a91f3d"
down_revision = "e5b7a3c9d214"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "llm_calls",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("called_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
    )
    op.create_index("ix_llm_calls_called_at", "llm_calls", ["called_at"])
    op.create_table(
        "briefings",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("period_start", storage.types.UTCDateTime(), nullable=False),
        sa.Column("period_end", storage.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.Column("facts", storage.types.Json, nullable=False),
        sa.Column("verification", storage.types.Json, nullable=False),
        sa.Column("llm_call_id", big, nullable=True),
        sa.ForeignKeyConstraint(
            ["llm_call_id"],
            ["llm_calls.id"],
            name=op.f("fk_briefings_llm_call_id_llm_calls"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
    )
    op.create_index("ix_briefings_kind_created_at", "briefings", ["kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_briefings_kind_created_at", table_name="briefings")
    op.drop_table("briefings")
    op.drop_index("ix_llm_calls_called_at", table_name="llm_calls")
    op.drop_table("llm_calls")
