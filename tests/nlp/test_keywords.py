"""Tests for nlp.keywords: jieba TF-IDF / TextRank with the repo's dictionary and stop words."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jieba.analyse
import pytest

from nlp import keywords
from nlp.keywords import (
    METHODS,
    extract_keywords,
    extract_keywords_batch,
    extract_keywords_weighted,
    get_extractor,
)
from nlp.tokenize import is_content_word, load_stopwords, strip_masked_places

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


def reference_tfidf(text: str, k: int) -> list[tuple[str, float]]:
    """What the module did before the fast path: jieba's own extract_tags, then our filter."""
    stop = load_stopwords()
    pairs = get_extractor("tfidf").extract_tags(strip_masked_places(text), topK=None, withWeight=True)
    return [(w, float(s)) for w, s in pairs if is_content_word(w, stop)][:k]


MIXED = [
    COMPLAINT,
    "学校周边校外培训机构乱收费，家长反映强烈",
    "#武汉加油# 转发微博 http://t.cn/A6abcDeF 钟南山院士说要戴口罩，口罩口罩还是口罩[泪]",
    "ETC市区通行费太贵了5G基站辐射 A3区 12.5% iPhone iphone IPHONE",
    "今天天气不错",
    "的的的 了 吗",
    "物业  费用   上涨\t\t了，  停车费\r\n\r\n也涨",
]


@pytest.mark.parametrize("k", [1, 3, 50])
def test_tfidf_is_jiebas_extract_tags(k: int) -> None:
    for text in MIXED:
        assert extract_keywords_weighted(text, k=k) == reference_tfidf(text, k), text


def test_tfidf_is_jiebas_extract_tags_on_real_posts(shared_data: Path) -> None:
    rows = json.loads((shared_data / "smp2020_ewect" / "virus_eval_labeled.txt").read_text(encoding="utf-8"))
    texts = [r["content"] for r in rows[:800]]
    assert [extract_keywords_weighted(t, k=8) for t in texts] == [reference_tfidf(t, 8) for t in texts]


def test_batch_computes_each_distinct_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = keywords.extract_keywords

    def counting(text: str, k: int = 8, method: str = "tfidf") -> list[str]:
        seen.append(text)
        return real(text, k=k, method=method)  # type: ignore[arg-type]

    monkeypatch.setattr(keywords, "extract_keywords", counting)
    texts = [COMPLAINT, "燃气泄漏", COMPLAINT, "", "燃气泄漏", COMPLAINT]
    out = extract_keywords_batch(texts, k=4)
    assert sorted(seen) == sorted(set(texts))
    assert out == [real(t, k=4) for t in texts]
    out[0].append("改动")  # every text has its own list
    assert "改动" not in out[2]
