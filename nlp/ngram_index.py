"""Batch counting of a fitted n-gram vocabulary with array lookups instead of one string per feature.

The shipped featurizers (:mod:`nlp.features`) turn a text into character 1-3-grams plus word
1-2-grams prefixed ``w:``, and a fitted vocabulary maps each such string to a column. Building
those strings and hashing them one by one is most of the tagging worker's time. Here each
character n-gram becomes one integer (its code points, 21 bits each: three fit in 63 bits) and
each word pair two word ids, so a whole batch is looked up in ``pandas.Index`` hash tables. The counts are the same matrix the string analyzer gives (tests
compare them on real texts), including the rare string that is both a character trigram and a
word feature (``"w:好"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

_BITS = 21  # every code point (<= 0x10FFFF) fits in 21 bits
_WORD = "w:"

#: The n-gram ranges the index handles; other featurizers use the string analyzer.
CHAR_RANGE = (1, 3)
WORD_RANGE = (1, 2)


def supports(char: tuple[int, int], word: tuple[int, int]) -> bool:
    """Whether :class:`NgramIndex` can count these n-gram ranges."""
    return CHAR_RANGE[0] <= char[0] <= char[1] <= CHAR_RANGE[1] and (
        WORD_RANGE[0] <= word[0] <= word[1] <= WORD_RANGE[1]
    )


def _char_key(term: str) -> int:
    key = 0
    for ch in term:
        key = (key << _BITS) | ord(ch)
    return key


def _codes(texts: Sequence[str]) -> np.ndarray:
    joined = "".join(texts).encode("utf-32-le", "surrogatepass")
    return np.frombuffer(joined, dtype="<u4").astype(np.int64)


def _lookup(keys: np.ndarray, table: pd.Index, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` found in ``table`` (unique keys) and the ``values`` they map to."""
    if not len(table) or not len(keys):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=values.dtype)
    pos = table.get_indexer(keys)
    found = np.flatnonzero(pos >= 0)
    return found, values[pos[found]]


@dataclass
class NgramIndex:
    """A fitted vocabulary's character and word n-grams as integer keys.

    Build it with :meth:`from_vocabulary`; :meth:`count` gives the document-term count matrix of
    a batch, each document given as its character string and its word sequence.
    """

    char: tuple[int, int]
    word: tuple[int, int]
    n_features: int
    char_keys: pd.Index  # unique int64 keys of the character n-gram terms
    char_columns: np.ndarray
    words: pd.Index
    word_columns: np.ndarray  # per word id: the column of "w:<word>", or -1
    pair_keys: pd.Index  # id_a * len(words) + id_b
    pair_columns: np.ndarray

    @classmethod
    def from_vocabulary(
        cls, vocabulary: Mapping[str, int], char: tuple[int, int], word: tuple[int, int]
    ) -> NgramIndex:
        """Index ``vocabulary`` (feature string -> column) for the given n-gram ranges.

        Raises:
            ValueError: ranges outside :data:`CHAR_RANGE` / :data:`WORD_RANGE`, or a term holding
                NUL (its key would be a shorter term's; shipped vocabularies never hold one).
        """
        if not supports(char, word):
            raise ValueError(f"n-gram ranges char={char} word={word} are outside {CHAR_RANGE}/{WORD_RANGE}")
        if any("\x00" in term for term in vocabulary):
            raise ValueError("a vocabulary term contains NUL")
        char_items: list[tuple[int, int]] = []
        unigrams: dict[str, int] = {}
        pairs: list[tuple[str, str, int]] = []
        for term, column in vocabulary.items():
            if char[0] <= len(term) <= char[1]:
                char_items.append((_char_key(term), column))
            if term.startswith(_WORD):
                parts = term[len(_WORD) :].split(" ")
                if len(parts) == 1 and word[0] == 1:
                    unigrams[parts[0]] = column
                elif len(parts) == 2 and word[1] == 2:
                    pairs.append((parts[0], parts[1], column))
        names = list(dict.fromkeys([*unigrams, *(a for a, _, _ in pairs), *(b for _, b, _ in pairs)]))
        words = pd.Index(names, dtype=object)
        word_columns = np.array([unigrams.get(w, -1) for w in names], dtype=np.int64)
        ids = {w: i for i, w in enumerate(names)}
        pair_items = [(ids[a] * len(names) + ids[b], column) for a, b, column in pairs]
        return cls(
            char=char,
            word=word,
            n_features=len(vocabulary),
            char_keys=pd.Index(np.array([k for k, _ in char_items], dtype=np.int64)),
            char_columns=np.array([c for _, c in char_items], dtype=np.int64),
            words=words,
            word_columns=word_columns,
            pair_keys=pd.Index(np.array([k for k, _ in pair_items], dtype=np.int64)),
            pair_columns=np.array([c for _, c in pair_items], dtype=np.int64),
        )

    def _char_hits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        codes = _codes(texts)
        doc_of = np.repeat(np.arange(len(texts)), lengths)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for n in range(self.char[0], self.char[1] + 1):
            if len(codes) < n:
                continue
            span = len(codes) - n + 1
            keys = codes[:span].copy()
            for k in range(1, n):
                keys = (keys << _BITS) | codes[k : k + span]
            # Within one document; a leading NUL would make the key of a shorter n-gram.
            inside = np.flatnonzero((doc_of[:span] == doc_of[n - 1 :]) & (codes[:span] != 0))
            found, columns = _lookup(keys[inside], self.char_keys, self.char_columns)
            rows.append(doc_of[inside[found]])
            cols.append(columns)
        return _concat(rows), _concat(cols)

    def _word_hits(self, tokens: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        flat = [w for doc in tokens for w in doc]
        if not flat or not len(self.words):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        ids = self.words.get_indexer(pd.Index(flat, dtype=object)).astype(np.int64)
        doc_of = np.repeat(np.arange(len(tokens)), lengths)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        if self.word[0] == 1:
            known = np.flatnonzero(ids >= 0)
            columns = self.word_columns[ids[known]]
            keep = columns >= 0
            rows.append(doc_of[known[keep]])
            cols.append(columns[keep])
        if self.word[1] == 2 and len(ids) > 1:
            a, b = ids[:-1], ids[1:]
            inside = np.flatnonzero((doc_of[:-1] == doc_of[1:]) & (a >= 0) & (b >= 0))
            keys = a[inside] * len(self.words) + b[inside]
            found, columns = _lookup(keys, self.pair_keys, self.pair_columns)
            rows.append(doc_of[inside[found]])
            cols.append(columns)
        return _concat(rows), _concat(cols)

    def count(self, texts: Sequence[str], tokens: Sequence[Sequence[str]]) -> sp.csr_array:
        """Counts of every vocabulary feature per document (rows in input order, sorted indices).

        Args:
            texts: per document, the string its character n-grams are taken from.
            tokens: per document, the words its word n-grams are taken from.
        """
        if len(texts) != len(tokens):
            raise ValueError(f"{len(texts)} texts but {len(tokens)} token lists")
        char_rows, char_cols = self._char_hits(texts)
        word_rows, word_cols = self._word_hits(tokens)
        rows = np.concatenate([char_rows, word_rows])
        cols = np.concatenate([char_cols, word_cols])
        matrix = sp.csr_array(
            (np.ones(len(rows), dtype=np.intc), (rows, cols)), shape=(len(texts), self.n_features)
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        return matrix


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
