"""De-duplication: exact copies by content hash, near copies by MinHash-LSH over character 3-grams.

Before shingling, a text is normalised (:func:`ingest.clean.normalize_text`) and stripped of what
reposting adds or changes: ``转发微博``, ``//@name:`` chains, ``回复@name:``, @mentions, URLs and
``网页链接``, ``[表情]`` codes, ``...全文`` tails, then of spaces, punctuation, symbols and emoji.

:class:`NearDuplicateIndex` finds candidates with :class:`datasketch.MinHashLSH` and then checks them
exactly against the stored 3-gram sets (kept as compact sorted ``uint32`` arrays): a candidate is a
copy when the Jaccard similarity reaches ``threshold``, or when the shorter text is almost wholly
contained in the longer one (a truncated copy, a repost with a comment) and is at least
``min_length_ratio`` of its length. The answer is the oldest copy added, so the caller adds items in
publication order. The index is rebuilt from stored ``(id, text)`` pairs with
:meth:`NearDuplicateIndex.from_pairs` and can also be pickled.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
import zlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
from datasketch import MinHash, MinHashLSH

from ingest.clean import normalize_text

logger = logging.getLogger(__name__)

SHINGLE_SIZE = 3

_NOISE_RES: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?:https?://|www\.)[\w\-./?%&=#:~+@!,;]+", re.IGNORECASE),
    re.compile(r"\bt\.cn/\w+"),
    re.compile(r"[OoＯ]?网页链接|展开全文\s*c?|收起全文\s*d?|(?:\.{2,}|…+)\s*全文\s*$"),
    re.compile(r"转发微博|轉發微博|\bRepost\b", re.IGNORECASE),
    re.compile(r"//\s*@[^:：\s/]{1,30}\s*[:：]?"),
    re.compile(r"回复\s*@[^:：\s]{1,30}\s*[:：]"),
    re.compile(r"@[\w\-·]{1,30}(?=[\s:：,，。.!！?？)）@]|$)"),
    re.compile(r"\[[^\[\]\s]{1,8}\]"),
)
_NON_WORD_RE = re.compile(r"[\W_]+")


def strip_repost_noise(text: str) -> str:
    """Normalise ``text`` and remove repost markers, mentions, URLs and emoticon codes."""
    text = normalize_text(text)
    for pattern in _NOISE_RES:
        text = pattern.sub(" ", text)
    return text


def dedup_segments(text: str) -> list[str]:
    """The runs of letters and digits of the noise-stripped, case-folded text (clauses, mostly)."""
    return [seg for seg in _NON_WORD_RE.split(strip_repost_noise(text).casefold()) if seg]


def dedup_key(text: str) -> str:
    """The segments joined: what exact copies share."""
    return "".join(dedup_segments(text))


def shingle_hashes(segments: Iterable[str], size: int = SHINGLE_SIZE) -> np.ndarray:
    """Sorted unique CRC-32 hashes of the character ``size``-grams within each segment.

    Shingles do not cross punctuation, so reordered sentences or clauses keep every shingle; a
    segment shorter than ``size`` is one shingle.
    """
    grams: set[str] = set()
    for seg in segments:
        if len(seg) <= size:
            grams.add(seg)
        else:
            grams.update(seg[i : i + size] for i in range(len(seg) - size + 1))
    hashes = np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint32, count=len(grams))
    return np.unique(hashes)


MAX_CANDIDATES = 32  # exact checks per query, oldest candidates first


@dataclass(frozen=True)
class _Entry:
    doc_id: Hashable
    exact: bytes  # SHA-1 of the dedup key
    shingles: bytes  # sorted unique uint32 hashes
    key: str | None  # kept for short texts only, for the edit-similarity check


@dataclass(frozen=True)
class _Signature:
    key: str
    exact: bytes
    shingles: np.ndarray
    minhash: MinHash | None  # None: too short for LSH, exact matching only


class NearDuplicateIndex:
    """Finds the first stored copy of a text: same dedup key, or a near copy.

    A candidate proposed by LSH is a copy when one of these holds on the exact 3-gram sets:
    Jaccard similarity >= ``threshold``; the shorter set is ``containment`` inside the longer and
    at least ``min_length_ratio`` of its size (truncations, commented reposts); or, for keys of at
    most ``edit_max_chars`` characters, Jaccard >= 0.3 and the character similarity
    (:class:`difflib.SequenceMatcher` ratio) >= ``edit_similarity`` (a few characters changed in a
    short post, where 3-gram Jaccard falls fast).

    Args:
        threshold: Jaccard similarity of 3-gram sets from which two texts are copies.
        num_perm: MinHash permutations; 64 keeps add+query fast on one core.
        containment: See above; None disables the rule.
        min_length_ratio: See above.
        edit_similarity: See above; None disables the rule.
        edit_max_chars: Longest key checked by character similarity (and stored for it).
        min_shingles: Texts with fewer 3-grams are matched exactly only (LSH is noise on them).
        max_docs: Keep at most this many texts, forgetting the oldest (LSH buckets cost about
            6.5 KiB per text with the default parameters).
        lsh_params: LSH ``(bands, rows)``; the default (21, 3) proposes most pairs from Jaccard
            ~0.45 up, which the containment and edit rules need.
    """

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 64,
        *,
        containment: float | None = 0.9,
        min_length_ratio: float = 0.4,
        edit_similarity: float | None = 0.85,
        edit_max_chars: int = 300,
        min_shingles: int = 6,
        max_docs: int | None = None,
        lsh_params: tuple[int, int] | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.containment = containment
        self.min_length_ratio = min_length_ratio
        self.edit_similarity = edit_similarity
        self.edit_max_chars = edit_max_chars
        self.min_shingles = min_shingles
        self.max_docs = max_docs
        if lsh_params is None:
            rows = 3
            lsh_params = (num_perm // rows, rows)
        self._lsh = MinHashLSH(num_perm=num_perm, params=lsh_params)
        self._permutations = MinHash(num_perm=num_perm, seed=1).permutations
        self._entries: dict[int, _Entry] = {}  # sequence number (insertion order) -> entry
        self._seq_of: dict[Hashable, int] = {}
        self._exact: dict[bytes, int] = {}  # SHA-1 of the dedup key -> first sequence number
        self._next_seq = 0

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[Hashable, str]], **kwargs: object) -> NearDuplicateIndex:
        """Build an index from stored ``(doc_id, text)`` pairs, oldest first."""
        index = cls(**kwargs)  # type: ignore[arg-type]
        for doc_id, text in pairs:
            index.add(doc_id, text)
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._seq_of

    def _signature(self, text: str) -> _Signature:
        segments = dedup_segments(text)
        key = "".join(segments)
        shingles = shingle_hashes(segments)
        minhash = None
        if len(shingles) >= self.min_shingles:
            minhash = MinHash(
                num_perm=self.num_perm, hashfunc=int, permutations=self._permutations, scheme="affine32"
            )
            minhash.update_batch(shingles)
        return _Signature(key, hashlib.sha1(key.encode("utf-8")).digest(), shingles, minhash)

    def _is_copy(self, sig: _Signature, entry: _Entry) -> bool:
        other = np.frombuffer(entry.shingles, dtype=np.uint32)
        common = len(np.intersect1d(sig.shingles, other, assume_unique=True))
        small, large = sorted((len(sig.shingles), len(other)))
        union = small + large - common
        if common >= self.threshold * union:
            return True
        if (
            self.containment is not None
            and small >= self.min_length_ratio * large
            and common >= self.containment * small
        ):
            return True
        if (
            self.edit_similarity is None
            or entry.key is None
            or len(sig.key) > self.edit_max_chars
            or common < 0.3 * union
        ):
            return False
        return SequenceMatcher(None, sig.key, entry.key, autojunk=False).ratio() >= self.edit_similarity

    def _find(self, sig: _Signature) -> Hashable | None:
        if not sig.key:  # nothing left after stripping (a bare "转发微博"): never a copy
            return None
        seq = self._exact.get(sig.exact)
        if seq is not None:
            return self._entries[seq].doc_id
        if sig.minhash is None:
            return None
        # Oldest first, at most MAX_CANDIDATES: texts sharing a template can collide with
        # thousands of entries, and checking each exactly would make ingest quadratic.
        for cand in heapq.nsmallest(MAX_CANDIDATES, self._lsh.query(sig.minhash)):
            if self._is_copy(sig, self._entries[cand]):
                return self._entries[cand].doc_id
        return None

    def _insert(self, doc_id: Hashable, sig: _Signature) -> None:
        if doc_id in self._seq_of:
            self.remove(doc_id)
        seq = self._next_seq
        self._next_seq += 1
        key = sig.key if len(sig.key) <= self.edit_max_chars else None
        self._entries[seq] = _Entry(doc_id, sig.exact, sig.shingles.tobytes(), key)
        self._seq_of[doc_id] = seq
        if sig.key:
            self._exact.setdefault(sig.exact, seq)
        if sig.minhash is not None:
            self._lsh.insert(seq, sig.minhash, check_duplication=False)
        if self.max_docs is not None and len(self._entries) > self.max_docs:
            self.remove(self._entries[next(iter(self._entries))].doc_id)

    def add(self, doc_id: Hashable, text: str) -> None:
        """Index ``text`` under ``doc_id`` (re-indexing it if the id is already present)."""
        self._insert(doc_id, self._signature(text))

    def query(self, text: str) -> Hashable | None:
        """Return the id of the oldest indexed copy of ``text``, or None."""
        return self._find(self._signature(text))

    def lookup_or_add(self, doc_id: Hashable, text: str) -> Hashable | None:
        """Return the oldest copy's id if ``text`` is a copy; otherwise index it and return None."""
        sig = self._signature(text)
        found = self._find(sig)
        if found is None:
            self._insert(doc_id, sig)
        return found

    def remove(self, doc_id: Hashable) -> None:
        """Forget ``doc_id`` (e.g. when it leaves the warm window); unknown ids are ignored."""
        seq = self._seq_of.pop(doc_id, None)
        if seq is None:
            return
        entry = self._entries.pop(seq)
        if seq in self._lsh:
            self._lsh.remove(seq)
        if self._exact.get(entry.exact) == seq:
            del self._exact[entry.exact]
