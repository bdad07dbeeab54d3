"""Array lookups of a fitted n-gram vocabulary give exactly the string analyzer's counts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from nlp.features import CompactTfidfVectorizer, PostAnalyzer, TokenAnalyzer
from nlp.ngram_index import NgramIndex, supports

TEXTS = [
    "今天天气真好，心情好好！",
    "气死我了 排队三个小时",
    "w:好 w:好 这是 w:好",  # a character trigram that is also a word feature's string
    "😀😀😀表情包 \U0001f600 emoji",  # astral code points
    "半个代理对\ud83d在这里",  # a lone surrogate (broken JSON escapes) must not fail
    "",
    "a\u3000b\tc  d",
    "\x00好\x00\x00w:好",  # NUL never makes the key of a shorter n-gram
    "好",
]


def _string_counts(vec: CompactTfidfVectorizer, docs: list[str]) -> np.ndarray:
    _, matrix = CountVectorizer._count_vocab(vec, docs, True)
    return np.asarray(matrix.todense())


@pytest.mark.parametrize("analyzer", [PostAnalyzer((1, 3), (1, 2)), TokenAnalyzer((1, 3), (1, 2))])
def test_counts_equal_string_analyzer(analyzer: PostAnalyzer | TokenAnalyzer) -> None:
    vec = CompactTfidfVectorizer(analyzer=analyzer, min_df=1, dtype=np.float32)
    vec.fit([t.replace("\x00", "") for t in TEXTS] * 2)  # shipped vocabularies hold no NUL
    assert vec._ngram_index() is not None
    docs = [*TEXTS, "没见过的句子 好 w:好", "今天 天气"]
    _, fast = vec._count_vocab(docs, True)
    assert fast.dtype == np.float32
    assert np.array_equal(np.asarray(fast.todense()), _string_counts(vec, docs))


def test_term_that_is_both_char_and_word_feature_counts_both() -> None:
    vocabulary = {"w:好": 0, "好": 1, "w:好 好": 2, "好好": 3}
    index = NgramIndex.from_vocabulary(vocabulary, (1, 3), (1, 2))
    counts = index.count(["w:好 好好"], [["w:好", "好", "好"]]).todense()
    # "w:好": the character trigram once plus the word "好" twice; "好": three characters;
    # "w:好 好": the word pair ("好", "好") once; "好好": the character bigram once.
    assert counts.tolist() == [[1 + 2, 3, 1, 1]]


def test_ngrams_never_cross_documents() -> None:
    index = NgramIndex.from_vocabulary({"ab": 0, "w:a b": 1, "a": 2}, (1, 2), (1, 2))
    counts = index.count(["a", "b", "ab"], [["a"], ["b"], ["a", "b"]]).todense()
    assert counts.tolist() == [[0, 0, 1], [0, 0, 0], [1, 1, 1]]


def test_unsupported_ranges_fall_back_to_strings() -> None:
    assert not supports((1, 4), (1, 2)) and not supports((1, 3), (1, 3))
    vec = CompactTfidfVectorizer(analyzer=PostAnalyzer((1, 4), (1, 2)), min_df=1).fit(TEXTS)
    assert vec._ngram_index() is None
    _, counts = vec._count_vocab(TEXTS, True)
    assert np.array_equal(np.asarray(counts.todense()), _string_counts(vec, TEXTS))
    with pytest.raises(ValueError, match="outside"):
        NgramIndex.from_vocabulary({}, (1, 4), (1, 2))
    with_nul = CompactTfidfVectorizer(analyzer=TokenAnalyzer(), min_df=1).fit(["\x00好 好"])
    assert with_nul._ngram_index() is None
    _, counts = with_nul._count_vocab(["\x00好 好"], True)
    assert np.array_equal(np.asarray(counts.todense()), _string_counts(with_nul, ["\x00好 好"]))


def test_index_is_rebuilt_after_refit_and_not_pickled() -> None:
    import pickle

    vec = CompactTfidfVectorizer(analyzer=PostAnalyzer(), min_df=1).fit(TEXTS[:2])
    first = vec._ngram_index()
    vec.fit(TEXTS)
    assert vec._ngram_index() is not first
    clone = pickle.loads(pickle.dumps(vec))
    assert "_ngram_cache" not in clone.__dict__
    assert np.array_equal(clone.transform(TEXTS).toarray(), vec.transform(TEXTS).toarray())
