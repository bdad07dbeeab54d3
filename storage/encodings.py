"""The encoder tier's storage: embeddings and encoder-tier tags (``encoder_tags``), and the best tag.

A document's sentiment, emotion and category in ``doc_tags`` are the best available: the encoder
tier's once it has run (``doc_tags.tier = "encoder"``), the fast tier's until then. The fast tier
re-tags documents when its models change; :func:`overlay_encoder_tags` keeps the encoder tier's
labels on such rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from storage import schema as s

#: The columns the encoder tier decides (the rest of a tag row stays the fast tier's).
TIER_COLUMNS = ("sentiment", "sentiment_score", "emotion", "emotion_score", "category", "category_score")


def overlay_encoder_tags(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Set ``tier`` on fast-tier tag rows, replacing their labels by the encoder tier's where it has run."""
    ids = [r["document_id"] for r in rows if "failed" not in (r.get("model_versions") or {})]
    e = s.encoder_tags
    found = {}
    if ids:
        cols = [e.c.document_id, *(e.c[c] for c in TIER_COLUMNS)]
        found = {row.document_id: row for row in conn.execute(select(*cols).where(e.c.document_id.in_(ids)))}
    for row in rows:
        enc = found.get(row["document_id"])
        if enc is None:
            row["tier"] = "fast"
            continue
        for col in TIER_COLUMNS:
            row[col] = getattr(enc, col)
        row["tier"] = "encoder"
