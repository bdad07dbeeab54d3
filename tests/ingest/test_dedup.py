"""Tests of ingest.dedup: noise stripping, NearDuplicateIndex behaviour and measured quality."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ingest.dedup import NearDuplicateIndex, dedup_key, shingle_hashes

ORIGINAL = "今天长沙下了很大的雨，岳麓区很多路段全是积水，出行请注意安全，希望有关部门尽快排水。"
DISTINCT = "小区垃圾站长期无人清理，气味很大，夏天蚊蝇滋生，请城管部门过来看看处理一下吧。"
SAME_TOPIC = "长沙今天的雨不算大，岳麓区的路面也没有积水，大家正常出行就好，不用太担心天气。"


@pytest.mark.parametrize(
    "copy",
    [
        ORIGINAL,
        f"转发微博 //@长沙发布: {ORIGINAL}",
        f"注意安全//@某网友:{ORIGINAL}//@另一人:转发微博",
        f"回复@张三:{ORIGINAL}",
        f"@李四 {ORIGINAL} http://t.cn/A6abcd 网页链接",
        f"<p>{ORIGINAL}</p>[哈哈]😂",
        ORIGINAL.replace("，", ",").replace("。", "！！！"),
        "出行请注意安全，希望有关部门尽快排水。今天长沙下了很大的雨，岳麓区很多路段全是积水。",
        ORIGINAL.replace("很大", "超大").replace("尽快", "赶紧"),
        ORIGINAL[:30] + "...全文",
    ],
    ids=[
        "same",
        "repost",
        "chain",
        "reply",
        "mention-url",
        "html-emoji",
        "punct",
        "reorder",
        "edits",
        "truncated",
    ],
)
def test_copies_are_found(copy: str) -> None:
    index = NearDuplicateIndex()
    index.add("orig", ORIGINAL)
    index.add("other", DISTINCT)
    assert index.query(copy) == "orig"


@pytest.mark.parametrize("text", [DISTINCT, SAME_TOPIC, "下雨", ORIGINAL[:12]])
def test_distinct_texts_are_not_copies(text: str) -> None:
    index = NearDuplicateIndex()
    index.add("orig", ORIGINAL)
    assert index.query(text) is None


def test_dedup_key_strips_repost_noise() -> None:
    assert dedup_key("转发微博 //@张三: 你好，世界！[哈哈] http://t.cn/Abc @李四 ...全文") == "你好世界"
    assert dedup_key("转发微博") == ""


def test_shingles_do_not_cross_punctuation() -> None:
    assert len(shingle_hashes(["abcd"])) == 2
    assert len(shingle_hashes(["ab", "cd"])) == 2
    assert (shingle_hashes(["ab", "cd"]) == shingle_hashes(["cd", "ab"])).all()
    assert len(shingle_hashes([])) == 0


def test_lookup_or_add_returns_the_oldest_copy() -> None:
    index = NearDuplicateIndex()
    assert index.lookup_or_add(1, ORIGINAL) is None
    assert index.lookup_or_add(2, DISTINCT) is None
    assert index.lookup_or_add(3, f"转发微博//@x:{ORIGINAL}") == 1
    assert 3 not in index and len(index) == 2  # copies are not indexed
    index.add(4, ORIGINAL + "！")  # forced in: the answer stays the oldest
    assert index.query(ORIGINAL) == 1
    index.remove(1)
    assert index.query(ORIGINAL) == 4


def test_short_and_empty_texts() -> None:
    index = NearDuplicateIndex()
    assert index.lookup_or_add("a", "转发微博") is None
    assert index.lookup_or_add("b", "转发微博") is None  # nothing left to compare: never a copy
    assert index.lookup_or_add("c", "好的") is None
    assert index.lookup_or_add("d", "好的！") == "c"  # short texts: exact key only
    assert index.query("好吧") is None


def test_rebuild_pickle_and_eviction() -> None:
    pairs = [("a", ORIGINAL), ("b", DISTINCT), ("c", SAME_TOPIC)]
    built = NearDuplicateIndex.from_pairs(pairs)
    clone = pickle.loads(pickle.dumps(built))
    for index in (built, clone):
        assert len(index) == 3
        assert index.query(f"转发微博//@x:{ORIGINAL}") == "a"
        assert index.query(DISTINCT + "!") == "b"
    capped = NearDuplicateIndex.from_pairs(pairs, max_docs=2)
    assert "a" not in capped and len(capped) == 2
    assert capped.query(ORIGINAL) is None


def test_re_adding_an_id_replaces_its_text() -> None:
    index = NearDuplicateIndex()
    index.add("x", ORIGINAL)
    index.add("x", DISTINCT)
    assert len(index) == 1
    assert index.query(ORIGINAL) is None and index.query(DISTINCT) == "x"


def test_bad_threshold() -> None:
    with pytest.raises(ValueError):
        NearDuplicateIndex(threshold=0)


def test_precision_and_recall_on_edited_weibo_posts(shared_data: Path) -> None:
    """Same construction as bench/dedup.py on the small SMP eval files."""
    from ingest.dedup_eval import build_stream, clean_pool, load_texts, run_stream

    texts = load_texts(tipdm=False, smp_files=("usual_eval_labeled.txt", "virus_eval_labeled.txt"))
    warm, queries = build_stream(clean_pool(texts), 500, 1500, 500, seed=2)
    score = run_stream(warm, queries)
    assert score.precision >= 0.97
    assert score.recall >= 0.93
    assert min(score.recall_by_edit.values()) >= 0.85, score.recall_by_edit


def test_noise_marker_gates_change_nothing() -> None:
    """strip_repost_noise runs a pattern only when its marker is present; the output is the same
    as running every pattern, whatever the case of URLs and "Repost"."""
    from ingest.clean import normalize_text
    from ingest.dedup import _NOISE_RES, strip_repost_noise

    samples = [
        "看 HTTP://Example.com/a?b=1 和 Www.gov.cn/x 还有 hTTps://t.cn/Abc",
        "REPOST //@Some_one: 内容 [哈哈] ...全文",
        "回复@张三: 好 @李四 转发微博 t.cn/xyz O网页链接 展开全文c",
        "没有任何标记的普通文字，数字12345。",
        "repost: RePoSt 轉發微博 收起全文d",
    ]
    for text in samples:
        expected = normalize_text(text)
        for _, pattern in _NOISE_RES:
            expected = pattern.sub(" ", expected)
        assert strip_repost_noise(text) == expected


def test_batches_answer_like_one_at_a_time() -> None:
    """lookup_or_add_many over a stream equals lookup_or_add item by item, copies within the
    batch included."""
    stream = []
    for i, base in enumerate([ORIGINAL, DISTINCT, SAME_TOPIC]):
        stream += [
            (f"{i}a", base),
            (f"{i}b", f"转发微博//@x:{base}"),
            (f"{i}c", base.replace("，", "、")[:-3]),
            (f"{i}d", base[::-1]),
        ]
    stream += [("short", "好的"), ("short2", "好的！"), ("empty", "转发微博")]
    one = NearDuplicateIndex()
    expected = [one.lookup_or_add(doc_id, text) for doc_id, text in stream]
    many = NearDuplicateIndex()
    assert many.lookup_or_add_many(stream) == expected
    assert expected.count(None) < len(stream) - 4  # the stream does hold copies
    assert len(many) == len(one)


def test_minhash_estimates_jaccard() -> None:
    """The share of equal MinHash values estimates the Jaccard similarity of the shingle sets,
    and chunking the batch changes no signature."""
    import numpy as np

    from ingest import dedup

    rng = np.random.default_rng(5)
    universe = rng.choice(2**32, 3000, replace=False).astype(np.uint32)
    docs, shingles = [], []
    for doc, (lo, hi) in enumerate([(0, 1000), (200, 1200), (500, 1500), (900, 1900)]):
        docs.append(np.full(hi - lo, doc))
        shingles.append(np.sort(universe[lo:hi]))
    doc_arr, sh_arr = np.concatenate(docs), np.concatenate(shingles)
    sigs = dedup.minhash_signatures(doc_arr, sh_arr, 4, num_perm=1024)
    for other, jaccard in [(1, 800 / 1200), (2, 500 / 1500), (3, 100 / 1900)]:
        estimate = float(np.mean(sigs[0] == sigs[other]))
        assert abs(estimate - jaccard) < 0.06, (other, estimate, jaccard)
    original = dedup._MINHASH_CELLS
    try:
        dedup._MINHASH_CELLS = 1500 * 1024  # one doc per chunk
        assert (dedup.minhash_signatures(doc_arr, sh_arr, 4, num_perm=1024) == sigs).all()
    finally:
        dedup._MINHASH_CELLS = original


def test_removing_everything_empties_the_buckets() -> None:
    index = NearDuplicateIndex()
    texts = [ORIGINAL, DISTINCT, SAME_TOPIC, ORIGINAL + "！", f"转发微博//@x:{DISTINCT}"]
    for i, text in enumerate(texts):
        index.add(i, text)
    assert index._buckets
    for i in range(len(texts)):
        index.remove(i)
    assert not index._buckets and not index._exact and len(index) == 0
