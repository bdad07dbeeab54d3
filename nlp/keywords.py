"""Keyword extraction with jieba's TF-IDF and TextRank.

Both extractors run on the private tokenizer of :mod:`nlp.tokenize` (user dictionary loaded) and
the stop-word list in ``nlp/resources/stopwords.txt``; jieba's global extractors are left alone.
TF-IDF uses the IDF table that ships with jieba (a general news corpus). TextRank keeps nouns,
place names, organisations, verbal nouns and verbs (``TEXTRANK_POS``).

TF-IDF is what the tagging pipeline runs on every document, so it is computed here from one
:class:`~nlp.tokenize.JiebaCutter` pass (jieba's tokens, faster) with the same counting, IDF
weighting and ordering as ``TFIDF.extract_tags(topK=None, withWeight=True)``: the keywords and
weights are jieba's own (tested against it). A batch computes each distinct text once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from itertools import islice
from operator import itemgetter
from typing import Literal

import jieba.analyse
import jieba.posseg

from nlp.tokenize import get_cutter, get_tokenizer, is_content_word, load_stopwords, strip_masked_places

logger = logging.getLogger(__name__)

Method = Literal["tfidf", "textrank"]
METHODS: tuple[str, ...] = ("tfidf", "textrank")
TEXTRANK_POS: tuple[str, ...] = ("n", "ns", "nt", "nz", "nr", "vn", "v", "l")

_lock = threading.Lock()
_extractors: dict[str, jieba.analyse.TFIDF | jieba.analyse.TextRank] = {}
_pos_tokenizer: jieba.posseg.POSTokenizer | None = None


def _build(method: str) -> jieba.analyse.TFIDF | jieba.analyse.TextRank:
    global _pos_tokenizer
    tokenizer = get_tokenizer()
    # One POS tokenizer per process: it takes over the user dictionary's tags from the tokenizer.
    if _pos_tokenizer is None:
        _pos_tokenizer = jieba.posseg.POSTokenizer(tokenizer)
    extractor: jieba.analyse.TFIDF | jieba.analyse.TextRank
    if method == "tfidf":
        extractor = jieba.analyse.TFIDF()
        extractor.tokenizer = tokenizer
        extractor.postokenizer = _pos_tokenizer
    else:
        extractor = jieba.analyse.TextRank()
        extractor.tokenizer = extractor.postokenizer = _pos_tokenizer
    extractor.stop_words = set(load_stopwords())
    return extractor


def get_extractor(method: str) -> jieba.analyse.TFIDF | jieba.analyse.TextRank:
    """Return the shared extractor for ``method`` (``tfidf`` or ``textrank``), built once."""
    if method not in METHODS:
        raise ValueError(f"unknown keyword method {method!r}; expected one of {METHODS}")
    extractor = _extractors.get(method)
    if extractor is None:
        with _lock:
            extractor = _extractors.get(method) or _build(method)
            _extractors[method] = extractor
    return extractor


def _tfidf_pairs(extractor: jieba.analyse.TFIDF, text: str) -> list[tuple[str, float]]:
    """``extractor.extract_tags(text, topK=None, withWeight=True)`` on the fast cutter."""
    stop_words = extractor.stop_words
    freq: dict[str, float] = {}
    for word in get_cutter().cut(text):
        # jieba's test is len(word.strip()) < 2; most tokens are single characters, ruled out first.
        if len(word) < 2 or len(word.strip()) < 2 or word.lower() in stop_words:
            continue
        freq[word] = freq.get(word, 0.0) + 1.0
    total = sum(freq.values())
    idf, median_idf = extractor.idf_freq, extractor.median_idf
    for word in freq:
        freq[word] *= idf.get(word, median_idf) / total
    return sorted(freq.items(), key=itemgetter(1), reverse=True)


def extract_keywords_weighted(text: str, k: int = 8, method: Method = "tfidf") -> list[tuple[str, float]]:
    """Return up to ``k`` ``(keyword, weight)`` pairs, best first.

    Weights are TF-IDF scores or TextRank scores normalised to a maximum of 1.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    extractor = get_extractor(method)
    if not text or not text.strip():
        return []
    clean = strip_masked_places(text)
    stopwords = load_stopwords()
    if isinstance(extractor, jieba.analyse.TFIDF):
        pairs = _tfidf_pairs(extractor, clean)
    else:
        pairs = extractor.textrank(clean, topK=None, withWeight=True, allowPOS=TEXTRANK_POS)
    kept = ((w, float(s)) for w, s in pairs if is_content_word(w, stopwords))
    return list(islice(kept, k))


def extract_keywords(text: str, k: int = 8, method: Method = "tfidf") -> list[str]:
    """Return up to ``k`` keywords of ``text``, best first.

    Args:
        text: any Chinese text.
        k: how many keywords at most.
        method: ``tfidf`` (fast, good on short texts) or ``textrank`` (graph-based, needs longer text).
    """
    return [w for w, _ in extract_keywords_weighted(text, k=k, method=method)]


def extract_keywords_batch(texts: Iterable[str], k: int = 8, method: Method = "tfidf") -> list[list[str]]:
    """Apply :func:`extract_keywords` to each text, in order (each distinct text computed once)."""
    get_extractor(method)  # fail fast on a bad method, even for an empty batch
    done: dict[str, list[str]] = {}
    out: list[list[str]] = []
    for text in texts:
        words = done.get(text)
        if words is None:
            words = done[text] = extract_keywords(text, k=k, method=method)
        out.append(list(words))  # one list per text: callers may edit theirs
    return out
