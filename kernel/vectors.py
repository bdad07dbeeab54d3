"""How embeddings are stored: 384 int8 values per document (``encoder_tags.embedding``).

The encoder writes them (``nlp.encoder``) and the similarity queries read them (``storage.similar``);
both go through these two functions. Rounding to int8 keeps cosine similarity within about 0.01.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIM = 384


def pack(vectors: np.ndarray) -> list[bytes]:
    """int8 bytes of each L2-normalised row (384 bytes a document)."""
    q = np.clip(np.rint(np.asarray(vectors, dtype=np.float32) * 127.0), -127, 127).astype(np.int8)
    return [row.tobytes() for row in q]


def unpack(blobs: Sequence[bytes]) -> np.ndarray:
    """Rows packed by :func:`pack`, back as L2-normalised float32 vectors (zero rows stay zero)."""
    if not blobs:
        return np.zeros((0, DIM), dtype=np.float32)
    q = np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), DIM).astype(np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", q, q))  # in place: no second (n, 384) array
    q /= np.where(norms == 0, 1.0, norms)[:, None]
    return q
