"""The encoder tier's rows for dashboard tests: real e5 embeddings of seeded documents, and a retold case.

No encoder worker runs: the embeddings are computed here with ``nlp.encoder`` and stored directly
(``encoder_tags``), and the encoded documents' ``doc_tags.tier`` is set to "encoder".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine, insert, select, update

from nlp.encoder import pack, shared_encoder
from nlp.pipeline import DocInput, doc_text
from storage import schema as s
from storage.db import write_tx
from storage.documents import write_documents
from tests.storage.test_similar import CASE, CASE_RETOLD

_VECTORS: dict[str, np.ndarray] = {}  # text -> embedding, shared by the SQLite and PostgreSQL runs


def embed(texts: Sequence[str]) -> np.ndarray:
    """Real e5 embeddings, each text encoded once per test session."""
    missing = sorted({t for t in texts if t not in _VECTORS})
    if missing:
        for text, vector in zip(missing, shared_encoder().embed(missing), strict=True):
            _VECTORS[text] = vector
    return np.stack([_VECTORS[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def encode_documents(engine: Engine, ids: Sequence[int], now: datetime) -> None:
    """Store the embeddings of documents ``ids`` (title and text, as the encoder tier reads them)."""
    d = s.documents
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.c.id, d.c.title, d.c.content, d.c.channel, d.c.published_at).where(d.c.id.in_(list(ids)))
        ).all()
    vectors = embed([doc_text(DocInput(r.id, r.content, r.title)) for r in rows])
    with write_tx(engine) as conn:
        conn.execute(
            insert(s.encoder_tags),
            [
                {"document_id": r.id, "published_at": r.published_at, "channel": r.channel, "embedding": blob,
                 "model_version": "e1-test", "encoded_at": now}
                for r, blob in zip(rows, pack(vectors), strict=True)
            ],
        )  # fmt: skip
        conn.execute(update(s.doc_tags).where(s.doc_tags.c.document_id.in_(list(ids))).values(tier="encoder"))


def add_retold_case(engine: Engine, now: datetime) -> tuple[int, int]:
    """A hotline message and the same case retold on the 问政 platform, both newest, both encoded."""
    with engine.connect() as conn:
        sources = {ch: sid for sid, ch in conn.execute(select(s.sources.c.id, s.sources.c.channel)).all()}
    ids = []
    for channel, text, hours in (("hotline", CASE, 1.5), ("gov", CASE_RETOLD, 1.0)):
        row = {
            "source_id": sources[channel], "channel": channel, "external_id": f"case-{channel}",
            "title": None, "content": text, "published_at": now - timedelta(hours=hours), "fetched_at": now,
            "content_hash": f"case-{channel}", "dup_of": None,
        }  # fmt: skip
        ids.append(write_documents(engine, sources[channel], [row])[f"case-{channel}"])
    encode_documents(engine, ids, now)
    return ids[0], ids[1]
