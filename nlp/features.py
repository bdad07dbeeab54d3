"""Featurizers of the shipped classifiers: text normalisation, jieba cutting and n-gram analyzers.

The shipped pickles reference these classes (``PostAnalyzer``, ``TokenAnalyzer``,
``CompactTfidfVectorizer``, ``VocabularyFilter``), so their behaviour must only change together
with retrained artifacts (which changes the model versions). Artifacts made before this module
existed name them under ``nlp.classifiers``, which re-exports them.

Words come from the keyword extractor's cutter (``nlp.tokenize``: jieba with the repository's user
dictionary and HMM), so a text is cut once for all stages. Editing the user dictionary therefore
also changes the classifiers' word features: retrain (``sensing train``) after large edits.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

try:  # sklearn >= 1.8 aligns sparse results with its array-API mode; earlier versions return them as is
    from sklearn.feature_extraction.text import _align_api_if_sparse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older scikit-learn

    def _align_api_if_sparse(matrix: Any) -> Any:
        return matrix


from nlp.jieba_cut import JiebaCutter
from nlp.ngram_index import NgramIndex
from nlp.tokenize import get_cutter

logger = logging.getLogger(__name__)

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_MENTION_RE = re.compile(r"@[\w\-]{1,30}")
_REPEAT_RE = re.compile(r"(.)\1{3,}")
_SPACE_RE = re.compile(r"\s+")
_SEP = "\x00"  # joins pickled vocabularies; normalize_text removes it from texts
#: Masked place names of the 问政 data: 西地省, A市, A1区, K9县 ... (kept private so models stay frozen).
_MASKED_PLACE_RE = re.compile(r"西地省|(?<![A-Za-z0-9])[A-Z]\d{0,2}(?:省|市|区|县|镇|乡|街道)")
_NOISE_TOKEN_RE = re.compile(r"^[\W\d_]+$|^[a-z]\d*$|^[省市区县镇乡]$")


def normalize_text(text: str) -> str:
    """Normalise a social-media post: NFKC, lower case, no URLs/@names, long repeats shortened."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace(_SEP, " ")
    text = _URL_RE.sub(" ", text)
    text = _MENTION_RE.sub("@", text)
    text = _REPEAT_RE.sub(r"\1\1\1", text)
    return _SPACE_RE.sub(" ", text).strip()


def _ngrams(items: Sequence[str], low: int, high: int, sep: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(items, str) and not sep:  # character n-grams: slices are the n-grams already
        for n in range(low, high + 1):
            out.extend([items[i : i + n] for i in range(len(items) - n + 1)])
        return out
    for n in range(low, high + 1):
        out.extend(sep.join(items[i : i + n]) for i in range(len(items) - n + 1))
    return out


def _cutter() -> JiebaCutter:
    """The keyword extractor's cutter (user dictionary, HMM): one cut of a text serves both, as
    the cutter memoises each run of characters it has cut."""
    return get_cutter()


@lru_cache(maxsize=4096)
def _cut(text: str) -> tuple[str, ...]:
    # Cached: the three models see the same batch one after the other, and jieba dominates the cost.
    return tuple(w for w in _cutter().cut(text, hmm=True) if not w.isspace())


def cut_post(text: str) -> list[str]:
    """Cut a normalised post into jieba words (the keyword tokenizer's cut, memoised)."""
    return list(_cut(text))


@lru_cache(maxsize=2048)
def _analyze_post(text: str, char: tuple[int, int], word: tuple[int, int]) -> tuple[str, ...]:
    # Cached: the sentiment and emotion models analyse the same batch one after the other.
    norm = normalize_text(text)
    feats = _ngrams(norm, *char)
    feats.extend("w:" + g for g in _ngrams(_cut(norm), *word, sep=" "))
    return tuple(feats)


class PostAnalyzer:
    """Feature strings of a social-media post: character n-grams plus jieba word n-grams.

    Args:
        char: character n-gram range on the normalised text.
        word: word n-gram range (words prefixed ``w:``).
    """

    def __init__(self, char: Sequence[int] = (1, 3), word: Sequence[int] = (1, 2)) -> None:
        self.char = (int(char[0]), int(char[1]))
        self.word = (int(word[0]), int(word[1]))

    def __call__(self, text: str) -> tuple[str, ...]:
        return _analyze_post(text or "", self.char, self.word)

    def parts(self, texts: Sequence[str]) -> tuple[list[str], list[Sequence[str]]]:
        """Per text, the string of its character n-grams and the words of its word n-grams."""
        norms = [normalize_text(t or "") for t in texts]
        return norms, [_cut(n) for n in norms]


class TokenAnalyzer:
    """Feature strings of space-separated tokens: word n-grams plus character n-grams.

    Args:
        char: character n-gram range on the token string (spaces kept as boundaries).
        word: token n-gram range (prefixed ``w:``).
    """

    def __init__(self, char: Sequence[int] = (1, 3), word: Sequence[int] = (1, 2)) -> None:
        self.char = (int(char[0]), int(char[1]))
        self.word = (int(word[0]), int(word[1]))

    def __call__(self, text: str) -> list[str]:
        feats = _ngrams(text, *self.char)
        feats.extend("w:" + g for g in _ngrams(text.split(), *self.word, sep=" "))
        return feats

    def parts(self, texts: Sequence[str]) -> tuple[list[str], list[Sequence[str]]]:
        """Per text, the string of its character n-grams and the words of its word n-grams."""
        return list(texts), [t.split() for t in texts]


def cut_message(text: str) -> list[str]:
    """Cut a raw 问政 message (title + body) the way the category training tokens were made.

    Masked place names ("A市", "A1区"), whitespace, punctuation, numbers and single Latin letters
    are dropped; stop words are dropped later by the vocabulary filter (:class:`VocabularyFilter`).
    """
    return filter_tokens(_cut(normalize_text(_MASKED_PLACE_RE.sub(" ", text or ""))))


def split_tokens(text: str) -> list[str]:
    """Split space-separated tokens."""
    return text.split()


def filter_tokens(tokens: Iterable[str]) -> list[str]:
    """Lower-case tokens; drop whitespace, punctuation, numbers and masked-place remains ("a1", "区")."""
    return [t for t in map(_clean_token, tokens) if t]


@lru_cache(maxsize=65536)
def _clean_token(token: str) -> str:
    # Memoised: a few thousand words make up most tokens, and this runs once per token of a message.
    cleaned = unicodedata.normalize("NFKC", token).strip().lower()
    return "" if not cleaned or _NOISE_TOKEN_RE.match(cleaned) else cleaned


class CompactTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` whose vocabulary pickles as one string.

    joblib unpickles with the pure-Python unpickler, which takes seconds over a dict of 400k
    terms; one string plus a dict rebuild takes a tenth of that.
    """

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_ngram_cache", None)
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            if any(_SEP in t for t in terms):
                raise ValueError("a vocabulary term contains NUL; normalise texts before fitting")
            state["_terms"] = _SEP.join(terms)
        return state

    def _ngram_index(self) -> NgramIndex | None:
        """The fitted vocabulary as integer keys, when the analyzer's n-grams allow it (built once)."""
        analyzer = self.analyzer
        if not isinstance(analyzer, PostAnalyzer | TokenAnalyzer):
            return None
        cached = self.__dict__.get("_ngram_cache")
        if cached is None or cached[0] is not self.vocabulary_:
            try:
                index = NgramIndex.from_vocabulary(self.vocabulary_, analyzer.char, analyzer.word)
            except ValueError:  # n-gram ranges it does not cover, or a term with NUL: strings
                index = None
            cached = self.__dict__["_ngram_cache"] = (self.vocabulary_, index)
        return cached[1]

    def _count_vocab(self, raw_documents: Iterable[str], fixed_vocab: bool) -> tuple[dict[str, int], Any]:
        """sklearn's count with a fitted vocabulary, looked up a batch at a time.

        The same matrix as ``CountVectorizer._count_vocab`` (a test compares them) several times
        faster: n-grams are integer keys looked up by :class:`~nlp.ngram_index.NgramIndex`, or,
        for other analyzers, feature strings counted by ``collections.Counter`` in C.
        """
        if not fixed_vocab:
            return super()._count_vocab(raw_documents, fixed_vocab)  # type: ignore[no-any-return]
        vocabulary = self.vocabulary_
        index = self._ngram_index()
        if index is not None:
            texts, tokens = self.analyzer.parts(list(raw_documents))
            counts = index.count(texts, tokens).astype(self.dtype)
            return vocabulary, _align_api_if_sparse(counts)
        lookup = vocabulary.get
        analyze = self.build_analyzer()
        j_indices: list[int] = []
        values: list[int] = []
        indptr = [0]
        for doc in raw_documents:
            counts = Counter(map(lookup, analyze(doc)))
            counts.pop(None, None)  # out-of-vocabulary features
            j_indices.extend(counts.keys())  # type: ignore[arg-type]
            values.extend(counts.values())
            indptr.append(len(j_indices))
        matrix = sp.csr_array(
            (
                np.asarray(values, dtype=np.intc),
                np.asarray(j_indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int32),
            ),
            shape=(len(indptr) - 1, len(vocabulary)),
            dtype=self.dtype,
        )
        matrix.sort_indices()
        return vocabulary, _align_api_if_sparse(matrix)

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("_terms", None)
        super().__setstate__(state)
        if terms is not None:
            self.vocabulary_ = {t: i for i, t in enumerate(terms.split(_SEP))} if terms else {}


class VocabularyFilter:
    """Keep only tokens seen in training; mirrors the stop-word removal applied to training tokens.

    Args:
        vocabulary: the token set of the training corpus.
    """

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = frozenset(vocabulary)

    def __getstate__(self) -> dict[str, Any]:
        return {"terms": _SEP.join(sorted(self.vocabulary))}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.vocabulary = frozenset(state["terms"].split(_SEP)) if state["terms"] else frozenset()

    def __call__(self, text: str) -> str:
        return " ".join(t for t in cut_message(text) if t in self.vocabulary)
