"""Tests for nlp.keywords: jieba TF-IDF / TextRank with the repo's dictionary and stop words."""

from __future__ import annotations

import time

import jieba.analyse
import pytest

from nlp.keywords import (
    METHODS,
    extract_keywords,
    extract_keywords_batch,
    extract_keywords_weighted,
    get_extractor,
)
from nlp.tokenize import load_stopwords

COMPLAINT = (
    "尊敬的领导您好！A市A1区丽发新城小区燃气管道老化，燃气泄漏多次，存在安全隐患。"
    "2019年12月起物业公司不作为，物业费却上涨30%。希望相关部门尽快处理燃气管道问题，谢谢！"
)


@pytest.mark.parametrize("method", METHODS)
def test_finds_the_topic_words(method: str) -> None:
    words = extract_keywords(COMPLAINT, k=8, method=method)
    assert 0 < len(words) <= 8
    assert "燃气管道" in words  # a user-dictionary word, kept whole
    assert len(set(words)) == len(words)


@pytest.mark.parametrize("method", METHODS)
def test_no_stop_words_numbers_or_masked_places(method: str) -> None:
    stop = load_stopwords()
    for word in extract_keywords(COMPLAINT, k=20, method=method):
        assert word not in stop
        assert not any(ch.isdigit() for ch in word) or any(ch.isalpha() for ch in word)
        assert word not in {"A市", "A1区", "A1", "领导", "您好", "谢谢"}
        assert len(word) >= 2


def test_weights_are_sorted_and_k_is_respected() -> None:
    pairs = extract_keywords_weighted(COMPLAINT, k=5)
    assert len(pairs) == 5
    weights = [w for _, w in pairs]
    assert weights == sorted(weights, reverse=True)
    assert extract_keywords(COMPLAINT, k=1) == [pairs[0][0]]


def test_empty_input_and_bad_arguments() -> None:
    assert extract_keywords("") == []
    assert extract_keywords("   ") == []
    with pytest.raises(ValueError):
        extract_keywords(COMPLAINT, method="lda")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        extract_keywords(COMPLAINT, k=0)
    with pytest.raises(ValueError):
        extract_keywords_batch([], method="nope")  # type: ignore[arg-type]


def test_batch_equals_single() -> None:
    texts = [COMPLAINT, "", "学校周边校外培训机构乱收费，家长反映强烈"]
    assert extract_keywords_batch(texts, k=4) == [extract_keywords(t, k=4) for t in texts]


def test_global_jieba_extractors_untouched() -> None:
    get_extractor("tfidf")
    get_extractor("textrank")
    assert get_extractor("tfidf") is not jieba.analyse.default_tfidf
    assert jieba.analyse.default_tfidf.tokenizer is jieba.dt
    assert "的" not in jieba.analyse.default_tfidf.stop_words


def test_tfidf_speed() -> None:
    texts = [COMPLAINT] * 200
    extract_keywords(COMPLAINT)
    start = time.perf_counter()
    extract_keywords_batch(texts)
    elapsed = time.perf_counter() - start
    chars = sum(map(len, texts))
    assert chars / elapsed > 30_000, f"{chars / elapsed:.0f} chars/s"
