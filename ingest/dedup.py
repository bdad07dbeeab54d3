"""De-duplication: exact copies by content hash, near copies by MinHash-LSH over character 3-grams.

Before shingling, a text is normalised (:func:`ingest.clean.normalize_text`) and stripped of what
reposting adds or changes: ``转发微博``, ``//@name:`` chains, ``回复@name:``, @mentions, URLs and
``网页链接``, ``[表情]`` codes, ``...全文`` tails, then of spaces, punctuation, symbols and emoji.

:class:`NearDuplicateIndex` finds candidates by MinHash-LSH, computed for whole batches with numpy
(datasketch's per-text objects cost about 320 µs a text, more than the whole ingest budget), and
then checks them exactly against the stored 3-gram sets (kept as compact sorted ``uint32`` arrays): a candidate is a
copy when the Jaccard similarity reaches ``threshold``, or when the shorter text is almost wholly
contained in the longer one (a truncated copy, a repost with a comment) and is at least
``min_length_ratio`` of its length. The answer is the oldest copy added, so the caller adds items in
publication order. The index is rebuilt from stored ``(id, text)`` pairs with
:meth:`NearDuplicateIndex.from_pairs` and can also be pickled.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import logging
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from ingest.clean import normalize_text

logger = logging.getLogger(__name__)

SHINGLE_SIZE = 3

# Each pattern with substrings of which every match contains one, in lower case (tested first on
# the lower-cased text: most texts have no marker, and a substring test is far cheaper than a regex
# pass). Substitutions put a space in place of what they remove, so no marker appears later.
_NOISE_RES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("http", "www"), re.compile(r"(?:https?://|www\.)[\w\-./?%&=#:~+@!,;]+", re.IGNORECASE)),
    (("t.cn/",), re.compile(r"\bt\.cn/\w+")),
    (
        ("网页链接", "全文"),
        re.compile(r"[OoＯ]?网页链接|展开全文\s*c?|收起全文\s*d?|(?:\.{2,}|…+)\s*全文\s*$"),
    ),
    (("转发微博", "轉發微博", "repo"), re.compile(r"转发微博|轉發微博|\bRepost\b", re.IGNORECASE)),
    (("@",), re.compile(r"//\s*@[^:：\s/]{1,30}\s*[:：]?")),
    (("@",), re.compile(r"回复\s*@[^:：\s]{1,30}\s*[:：]")),
    (("@",), re.compile(r"@[\w\-·]{1,30}(?=[\s:：,，。.!！?？)）@]|$)")),
    (("[",), re.compile(r"\[[^\[\]\s]{1,8}\]")),
)
# One pass finds which markers occur (no marker overlaps another, so none hides one).
_MARKER_RE = re.compile("|".join(re.escape(m) for markers, _ in _NOISE_RES for m in markers))
_NON_WORD_RE = re.compile(r"[\W_]+")


def strip_repost_noise(text: str) -> str:
    """Normalise ``text`` and remove repost markers, mentions, URLs and emoticon codes."""
    text = normalize_text(text)
    found = set(_MARKER_RE.findall(text.lower()))
    if found:
        for markers, pattern in _NOISE_RES:
            if not found.isdisjoint(markers):
                text = pattern.sub(" ", text)
    return text


def dedup_segments(text: str) -> list[str]:
    """The runs of letters and digits of the noise-stripped, case-folded text (clauses, mostly)."""
    return [seg for seg in _NON_WORD_RE.split(strip_repost_noise(text).casefold()) if seg]


def dedup_key(text: str) -> str:
    """The segments joined: what exact copies share."""
    return "".join(dedup_segments(text))


_SPLITMIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on ``uint64`` (a bijection that spreads every bit)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _SPLITMIX_1
    x = x ^ (x >> np.uint64(27))
    x = x * _SPLITMIX_2
    return x ^ (x >> np.uint64(31))


def _shingle_keys(docs: Sequence[Sequence[str]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(doc number, shingle hash)`` pairs of a batch of segment lists, sorted and unique.

    Every character ``size``-gram within a segment, and every shorter segment whole, is packed
    into one integer (21 bits per code point; a short segment leaves zeros that no real gram has)
    and hashed to 32 bits with :func:`_mix64`. The whole batch is one array, so the per-text work
    in Python is a join and a loop over its few short segments.
    """
    joined = ["\0".join(segments) for segments in docs]
    lengths = np.fromiter((len(j) + 1 for j in joined), dtype=np.int64, count=len(joined))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    codes = np.frombuffer("\0".join(joined).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    if len(codes) >= size:
        windows = np.lib.stride_tricks.sliding_window_view(codes, size)
        valid = np.all(windows != 0, axis=1)
        packed = np.zeros(int(valid.sum()), dtype=np.uint64)
        for i in range(size):
            packed = (packed << np.uint64(21)) | windows[valid, i]
        parts.append(packed)
        owners.append(np.searchsorted(starts, np.flatnonzero(valid), side="right") - 1)
    short_codes: list[int] = []
    short_docs: list[int] = []
    for doc, segments in enumerate(docs):
        for seg in segments:
            if len(seg) < size:
                code = 0
                for i in range(size):
                    code = (code << 21) | (ord(seg[i]) if i < len(seg) else 0)
                short_codes.append(code)
                short_docs.append(doc)
    if short_codes:
        parts.append(np.array(short_codes, dtype=np.uint64))
        owners.append(np.array(short_docs, dtype=np.int64))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32)
    hashes = _mix64(np.concatenate(parts)) >> np.uint64(32)
    keys = np.sort((np.concatenate(owners).astype(np.uint64) << np.uint64(32)) | hashes)
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # np.unique, without its hashing
    return (keys >> np.uint64(32)).astype(np.int64), (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def shingle_hashes(segments: Sequence[str], size: int = SHINGLE_SIZE) -> np.ndarray:
    """Sorted unique 32-bit hashes of the character ``size``-grams within each segment.

    Shingles do not cross punctuation, so reordered sentences or clauses keep every shingle; a
    segment shorter than ``size`` is one shingle.
    """
    return _shingle_keys([segments], size)[1]


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 2**63, num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
    return a[:, None], rng.integers(0, 2**63, num_perm, dtype=np.uint64)[:, None]


def minhash_signatures(
    doc: np.ndarray, shingles: np.ndarray, n_docs: int, num_perm: int, seed: int = 1
) -> np.ndarray:
    """MinHash signatures, ``(n_docs, num_perm)`` ``uint32``, of docs given as sorted shingle pairs.

    ``doc`` and ``shingles`` are :func:`_shingle_keys` output (grouped by doc). Permutation ``i``
    is the multiply-add-shift hash ``(a_i * x + b_i) >> 32`` over 64 bits, a 2-universal family on
    32-bit keys; a doc without shingles keeps the all-ones signature. The batch is hashed in a few
    array operations, chunked to bound memory.
    """
    a, b = _permutations(num_perm, seed)
    out = np.full((n_docs, num_perm), 0xFFFFFFFF, dtype=np.uint32)
    if not len(shingles):
        return out
    x = shingles.astype(np.uint64)
    firsts = np.concatenate(([0], np.flatnonzero(np.diff(doc)) + 1))
    ends = np.concatenate((firsts[1:], [len(x)]))
    chunk = max(1, _MINHASH_CELLS // num_perm)
    lo = 0
    while lo < len(firsts):
        hi = max(lo + 1, int(np.searchsorted(ends, firsts[lo] + chunk, side="right")))
        begin, end = firsts[lo], ends[hi - 1]
        hashed = a * x[None, begin:end]
        hashed += b
        # ">> 32" is monotone, so it can follow the minimum (one pass over the batch fewer)
        mins = np.minimum.reduceat(hashed, firsts[lo:hi] - begin, axis=1) >> np.uint64(32)
        out[doc[firsts[lo:hi]]] = mins.T
        lo = hi
    return out


_MINHASH_CELLS = 4_000_000  # permutation x shingle cells hashed at once (32 MB of uint64)


MAX_CANDIDATES = 32  # exact checks per query, oldest candidates first
_BATCH = 2_000  # texts signed at once by add_many / lookup_or_add_many


@dataclass(frozen=True, slots=True)
class _Entry:
    doc_id: Hashable
    exact: bytes  # SHA-1 of the dedup key
    shingles: bytes  # sorted unique uint32 hashes
    key: str | None  # kept for short texts only, for the edit-similarity check
    bands: bytes  # its uint64 LSH bucket keys (empty: not in the LSH tables)


@dataclass(frozen=True, slots=True)
class _Signature:
    key: str
    exact: bytes
    shingles: np.ndarray
    bands: np.ndarray | None  # None: too short for LSH, exact matching only


class NearDuplicateIndex:
    """Finds the first stored copy of a text: same dedup key, or a near copy.

    Candidates come from MinHash-LSH: ``bands`` x ``rows`` values of each text's MinHash
    signature (:func:`minhash_signatures`) are hashed into one bucket key per band, and texts
    sharing a bucket are candidates. A candidate is a copy when one of these holds on the exact
    3-gram sets: Jaccard similarity >= ``threshold``; the shorter set is ``containment`` inside
    the longer and at least ``min_length_ratio`` of its size (truncations, commented reposts); or,
    for keys of at most ``edit_max_chars`` characters, Jaccard >= 0.3 and the character
    similarity (:class:`difflib.SequenceMatcher` ratio) >= ``edit_similarity`` (a few characters
    changed in a short post, where 3-gram Jaccard falls fast).

    Signatures are computed for whole batches in numpy (:meth:`lookup_or_add_many`,
    :meth:`add_many`); the buckets are a plain dict, so a lookup is ``bands`` dict probes.

    Args:
        threshold: Jaccard similarity of 3-gram sets from which two texts are copies.
        num_perm: MinHash permutations.
        containment: See above; None disables the rule.
        min_length_ratio: See above.
        edit_similarity: See above; None disables the rule.
        edit_max_chars: Longest key checked by character similarity (and stored for it).
        min_shingles: Texts with fewer 3-grams are matched exactly only (LSH is noise on them).
        max_docs: Keep at most this many texts, forgetting the oldest (an indexed text costs
            about 2.7 KB for a 43-character post with the default parameters, by tracemalloc).
        lsh_params: LSH ``(bands, rows)``; the default (21, 3) proposes most pairs from Jaccard
            ~0.45 up, which the containment and edit rules need.
        seed: Seed of the MinHash permutations and band hashes.
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
        seed: int = 1,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if lsh_params is None:
            rows = 3
            lsh_params = (num_perm // rows, rows)
        bands, rows = lsh_params
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"lsh_params {lsh_params} need 1 <= bands x rows <= num_perm ({num_perm})")
        self.threshold = threshold
        self.num_perm = num_perm
        self.containment = containment
        self.min_length_ratio = min_length_ratio
        self.edit_similarity = edit_similarity
        self.edit_max_chars = edit_max_chars
        self.min_shingles = min_shingles
        self.max_docs = max_docs
        self.seed = seed
        self._bands, self._rows = bands, rows
        rng = np.random.default_rng([seed, 2])
        self._band_mult = rng.integers(0, 2**64 - 1, (bands, rows), dtype=np.uint64) | np.uint64(1)
        self._band_salt = rng.integers(0, 2**64 - 1, bands, dtype=np.uint64)
        self._buckets: dict[int, int | set[int]] = {}  # band key -> sequence number(s)
        self._entries: dict[int, _Entry] = {}  # sequence number (insertion order) -> entry
        self._seq_of: dict[Hashable, int] = {}
        self._exact: dict[bytes, int] = {}  # SHA-1 of the dedup key -> first sequence number
        self._next_seq = 0

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[Hashable, str]], **kwargs: object) -> NearDuplicateIndex:
        """Build an index from stored ``(doc_id, text)`` pairs, oldest first."""
        index = cls(**kwargs)  # type: ignore[arg-type]
        index.add_many(pairs)
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._seq_of

    def signatures(self, texts: Sequence[str]) -> list[_Signature]:
        """The dedup key, shingles and LSH bucket keys of each text, computed as one batch."""
        segments = [dedup_segments(text) for text in texts]
        doc, shingles = _shingle_keys(segments, SHINGLE_SIZE)
        counts = np.bincount(doc, minlength=len(texts))
        per_doc = np.split(shingles, np.cumsum(counts)[:-1])
        in_lsh = counts >= self.min_shingles
        bands: np.ndarray | None = None
        if in_lsh.any():
            keep = in_lsh[doc]
            sigs = minhash_signatures(doc[keep], shingles[keep], len(texts), self.num_perm, self.seed)
            cut = sigs[:, : self._bands * self._rows].reshape(len(texts), self._bands, self._rows)
            bands = _mix64(
                (cut.astype(np.uint64) * self._band_mult).sum(axis=2, dtype=np.uint64) + self._band_salt
            )
        out = []
        for i, segs in enumerate(segments):
            key = "".join(segs)
            out.append(
                _Signature(
                    key,
                    hashlib.sha1(key.encode("utf-8")).digest(),
                    per_doc[i],
                    bands[i] if bands is not None and in_lsh[i] else None,
                )
            )
        return out

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
        return _edit_ratio_at_least(sig.key, entry.key, self.edit_similarity)

    def _candidates(self, bands: np.ndarray) -> set[int]:
        found: set[int] = set()
        get = self._buckets.get
        for band_key in bands.tolist():
            bucket = get(band_key)
            if bucket is None:
                continue
            if isinstance(bucket, int):
                found.add(bucket)
            else:
                found.update(bucket)
        return found

    def _find(self, sig: _Signature) -> Hashable | None:
        if not sig.key:  # nothing left after stripping (a bare "转发微博"): never a copy
            return None
        seq = self._exact.get(sig.exact)
        if seq is not None:
            return self._entries[seq].doc_id
        if sig.bands is None:
            return None
        # Oldest first, at most MAX_CANDIDATES: texts sharing a template can collide with
        # thousands of entries, and checking each exactly would make ingest quadratic.
        for cand in heapq.nsmallest(MAX_CANDIDATES, self._candidates(sig.bands)):
            if self._is_copy(sig, self._entries[cand]):
                return self._entries[cand].doc_id
        return None

    def _insert(self, doc_id: Hashable, sig: _Signature) -> None:
        if doc_id in self._seq_of:
            self.remove(doc_id)
        seq = self._next_seq
        self._next_seq += 1
        key = sig.key if len(sig.key) <= self.edit_max_chars else None
        bands = b"" if sig.bands is None else sig.bands.tobytes()
        self._entries[seq] = _Entry(doc_id, sig.exact, sig.shingles.tobytes(), key, bands)
        self._seq_of[doc_id] = seq
        if sig.key:
            self._exact.setdefault(sig.exact, seq)
        if sig.bands is not None:
            buckets = self._buckets
            for band_key in sig.bands.tolist():
                bucket = buckets.get(band_key)
                if bucket is None:
                    buckets[band_key] = seq
                elif isinstance(bucket, int):
                    if bucket != seq:
                        buckets[band_key] = {bucket, seq}
                else:
                    bucket.add(seq)
        if self.max_docs is not None and len(self._entries) > self.max_docs:
            self.remove(self._entries[next(iter(self._entries))].doc_id)

    def add(self, doc_id: Hashable, text: str) -> None:
        """Index ``text`` under ``doc_id`` (re-indexing it if the id is already present)."""
        self.add_many([(doc_id, text)])

    def _signed(self, pairs: Iterable[tuple[Hashable, str]]) -> Iterator[tuple[Hashable, _Signature]]:
        """``(doc_id, signature)`` of each pair in order, signed :data:`_BATCH` texts at a time."""
        for chunk in _chunks(pairs, _BATCH):
            yield from zip(
                (doc_id for doc_id, _ in chunk), self.signatures([t for _, t in chunk]), strict=True
            )

    def add_many(self, pairs: Iterable[tuple[Hashable, str]]) -> None:
        """:meth:`add` each ``(doc_id, text)`` in order, signing them in batches."""
        for doc_id, sig in self._signed(pairs):
            self._insert(doc_id, sig)

    def query(self, text: str) -> Hashable | None:
        """Return the id of the oldest indexed copy of ``text``, or None."""
        return self._find(self.signatures([text])[0])

    def lookup_or_add(self, doc_id: Hashable, text: str) -> Hashable | None:
        """Return the oldest copy's id if ``text`` is a copy; otherwise index it and return None."""
        return self.lookup_or_add_many([(doc_id, text)])[0]

    def lookup_or_add_many(self, pairs: Iterable[tuple[Hashable, str]]) -> list[Hashable | None]:
        """:meth:`lookup_or_add` each ``(doc_id, text)`` in order (a text can be a copy of an
        earlier one of the same call); the signatures are computed in batches."""
        answers: list[Hashable | None] = []
        for doc_id, sig in self._signed(pairs):
            found = self._find(sig)
            if found is None:
                self._insert(doc_id, sig)
            answers.append(found)
        return answers

    def remove(self, doc_id: Hashable) -> None:
        """Forget ``doc_id`` (e.g. when it leaves the warm window); unknown ids are ignored."""
        seq = self._seq_of.pop(doc_id, None)
        if seq is None:
            return
        entry = self._entries.pop(seq)
        buckets = self._buckets
        for band_key in np.frombuffer(entry.bands, dtype=np.uint64).tolist():
            bucket = buckets.get(band_key)
            if bucket is None:
                continue
            if isinstance(bucket, int):
                if bucket == seq:
                    del buckets[band_key]
            else:
                bucket.discard(seq)
                if len(bucket) == 1:
                    buckets[band_key] = next(iter(bucket))
        if self._exact.get(entry.exact) == seq:
            del self._exact[entry.exact]


def _edit_ratio_at_least(a: str, b: str, bound: float) -> bool:
    """Whether :class:`difflib.SequenceMatcher`'s ratio of ``a`` and ``b`` reaches ``bound``.

    The lengths, then the shared character counts, bound the ratio from above (difflib's
    ``real_quick_ratio`` and ``quick_ratio``, computed here without building the matcher's index):
    most candidates stop there.
    """
    total = len(a) + len(b)
    if not total:
        return True
    if 2 * min(len(a), len(b)) < bound * total:
        return False
    if 2 * (Counter(a) & Counter(b)).total() < bound * total:
        return False
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= bound


def _chunks(pairs: Iterable[tuple[Hashable, str]], size: int) -> Iterable[list[tuple[Hashable, str]]]:
    chunk: list[tuple[Hashable, str]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
