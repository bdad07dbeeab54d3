"""The encoder tier's models: the bundled e5 encoder, int8 storage, the cache, stacked heads, eval --tier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from nlp.base import ModelNotFoundError
from nlp.classifiers import load_classifier
from nlp.encoder import DIM, TextEncoder, embed_cached, pack, prepare, shared_encoder, unpack
from nlp.encoder_tier import (
    EncoderTagger,
    StackedHead,
    load_encoder_tagger,
    load_head,
    load_stacked_classifier,
    save_head,
)
from nlp.evaluate import read_labelled_file
from nlp.pipeline import DocInput
from sensing.commands.models import eval_cmd
from tests.sensing.test_cli import config_for

#: Short posts with an obvious sentiment, used to fit tiny but real heads.
POSTS = [
    ("今天真开心，终于放假了", "positive"),
    ("太好了，谢谢政府帮我们修好了路", "positive"),
    ("服务很满意，点赞", "positive"),
    ("开心，孩子考上了大学", "positive"),
    ("气死我了，停水三天没人管", "negative"),
    ("太失望了，投诉了也没人回复", "negative"),
    ("小区垃圾堆成山，臭得不行，太糟糕了", "negative"),
    ("噪音吵得整夜睡不着，烦死了", "negative"),
    ("明天下午三点在会议室开会", "neutral"),
    ("本周六上午九点图书馆开放", "neutral"),
    ("地铁二号线今天正常运营", "neutral"),
    ("会议通知：周一例会照常举行", "neutral"),
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return shared_encoder()


@pytest.fixture(scope="module")
def post_vectors(encoder: TextEncoder) -> np.ndarray:
    return encoder.embed([t for t, _ in POSTS])


def tiny_head(task: str, vectors: np.ndarray, rows: list[tuple[str, str]]) -> StackedHead:
    """A real (if tiny) stacked head: the fast model's probabilities beside the embedding."""
    fast = load_classifier(task)
    proba = fast.predict_proba([t for t, _ in rows])
    fast_labels = sorted(fast.labels)
    probe = StackedHead(task, None, [], fast_labels)
    model = LogisticRegression(C=10.0, max_iter=2000).fit(
        probe.features(vectors, proba), [lab for _, lab in rows]
    )
    return StackedHead(task, model, [str(c) for c in model.classes_], fast_labels)


def test_paraphrases_embed_closer_than_unrelated_texts(encoder: TextEncoder) -> None:
    a, b, c = encoder.embed(
        ["小区停水三天没人管", "我们小区已经断水三天了，没有人处理", "明天体育馆举办篮球比赛"]
    )
    assert a.shape == (DIM,)
    assert np.isclose(np.linalg.norm(a), 1.0, atol=1e-3)
    assert float(a @ b) > float(a @ c) + 0.05


def test_prepare_collapses_space_and_cuts() -> None:
    assert prepare(" 标题 \n\t 正文  内容 ", max_chars=6) == "标题 正文 "[:6]
    assert prepare("", max_chars=5) == "。"  # the engine is never handed an empty text


def test_int8_packing_keeps_cosine(post_vectors: np.ndarray) -> None:
    blobs = pack(post_vectors)
    assert all(len(b) == DIM for b in blobs)
    back = unpack(blobs)
    exact = post_vectors @ post_vectors.T
    assert np.abs(back @ back.T - exact).max() < 0.01
    assert unpack([]).shape == (0, DIM)


def test_embedding_cache_resumes_without_recomputing(tmp_path: Path, encoder: TextEncoder) -> None:
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return encoder.embed(texts)

    texts = [t for t, _ in POSTS[:5]]
    first = embed_cached(texts, tmp_path, embed, chunk=2)
    assert calls == [2, 2, 1]
    chunk_files = sorted(tmp_path.rglob("*.npy"))
    chunk_files[-1].unlink()  # an interrupted run: the last piece is missing
    again = embed_cached(texts, tmp_path, embed, chunk=2)
    assert calls == [2, 2, 1, 1]
    assert np.allclose(first, again)


def test_head_round_trip_and_version(tmp_path: Path, post_vectors: np.ndarray) -> None:
    head = tiny_head("sentiment", post_vectors, POSTS)
    save_head(head, tmp_path)
    loaded = load_head("sentiment", tmp_path)
    assert loaded.version == head.version and loaded.version.startswith("sentiment-stacked-e5-")
    meta = json.loads((tmp_path / "sentiment" / "meta.json").read_text(encoding="utf-8"))
    assert meta["labels"] == loaded.labels
    with pytest.raises(ModelNotFoundError, match="python -m nlp.train_encoder"):
        load_head("emotion", tmp_path)


def test_tagger_tags_with_embedding_and_labels(
    tmp_path: Path, encoder: TextEncoder, post_vectors: np.ndarray
) -> None:
    head = tiny_head("sentiment", post_vectors, POSTS)
    tagger = EncoderTagger(encoder, {"sentiment": load_classifier("sentiment")}, {"sentiment": head})
    docs = [DocInput(1, "真开心，谢谢大家的帮助"), DocInput(2, "太糟糕了，气死人", title="投诉")]
    rows = tagger.tag(docs)
    assert [r["document_id"] for r in rows] == [1, 2]
    assert rows[0]["embedding"].shape == (DIM,)
    assert rows[0]["sentiment"] == "positive" and rows[1]["sentiment"] == "negative"
    assert 0.0 < rows[0]["sentiment_score"] <= 1.0
    assert tagger.version.startswith("e1-")
    assert tagger.cpu_seconds["encoder"] > 0


def test_load_encoder_tagger_loads_the_heads_there_are(tmp_path: Path, post_vectors: np.ndarray) -> None:
    with pytest.raises(ModelNotFoundError, match="nlp.train_encoder"):
        load_encoder_tagger(None, root=tmp_path)
    save_head(tiny_head("sentiment", post_vectors, POSTS), tmp_path)
    tagger = load_encoder_tagger(None, root=tmp_path)
    assert set(tagger.heads) == {"sentiment"}  # emotion and category keep the fast tier's labels
    [row] = tagger.tag([DocInput(7, "谢谢，问题解决了，很满意")])
    assert row["sentiment"] == "positive" and "category" not in row


def test_head_weights_shift_the_decision(tmp_path: Path, post_vectors: np.ndarray) -> None:
    head = tiny_head("sentiment", post_vectors, POSTS)
    fast = load_classifier("sentiment").predict_proba(["明天开会"])
    vec = post_vectors[8:9]
    plain = head.predict_proba(vec, fast)[0]
    head.weights = [100.0 if label == "positive" else 1.0 for label in head.labels]
    save_head(head, tmp_path)
    loaded = load_head("sentiment", tmp_path)
    assert loaded.weights == head.weights
    weighted = loaded.predict_proba(vec, fast)[0]
    assert np.isclose(weighted.sum(), 1.0)
    assert weighted[loaded.labels.index("positive")] > plain[head.labels.index("positive")]


def test_tipdm_export_reads_title_and_body(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text(
        "留言编号,留言用户,留言主题,留言时间,留言详情,一级分类\n"
        '1,U1,路灯不亮,2019/1/1 10:00:00,"\n\t\t小区路灯坏了一个月",城乡建设\n',
        encoding="utf-8",
    )
    [(text, label)] = read_labelled_file(path)
    assert label == "城乡建设"
    assert text.startswith("路灯不亮\n") and "小区路灯坏了一个月" in text


def test_eval_tier_encoder_scores_the_stacked_model(tmp_path: Path, post_vectors: np.ndarray) -> None:
    root = tmp_path / "heads"
    save_head(tiny_head("sentiment", post_vectors, POSTS), root)
    file = tmp_path / "dev.jsonl"
    file.write_text(
        "\n".join(json.dumps({"content": t, "label": lab}, ensure_ascii=False) for t, lab in POSTS),
        encoding="utf-8",
    )
    cfg = ["--config", str(config_for(tmp_path, f"sqlite:///{tmp_path / 'e.db'}"))]
    result = CliRunner().invoke(
        eval_cmd, ["sentiment", str(file), "--tier", "encoder", "--model", str(root), "--json", *cfg]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["tier"] == "encoder" and out["n"] == len(POSTS)
    assert out["model_version"].startswith("sentiment-stacked-e5-")
    assert out["macro_f1"] > 0.9  # the head was fitted on these very rows
    emotions = tmp_path / "emotions.jsonl"
    emotions.write_text(
        json.dumps({"content": "真开心", "label": "happy"}, ensure_ascii=False), encoding="utf-8"
    )
    missing = CliRunner().invoke(
        eval_cmd, ["emotion", str(emotions), "--tier", "encoder", "--model", str(root), "--json", *cfg]
    )
    # No stacked emotion head there: the encoder tier keeps the fast tier's emotion, and says so.
    assert missing.exit_code == 0, missing.output
    assert '"stacked": false' in missing.output and '"tier": "encoder"' in missing.output
    assert "emotion-linear" in missing.output


def test_stacked_classifier_maps_head_labels_to_task_order(tmp_path: Path, post_vectors: np.ndarray) -> None:
    save_head(tiny_head("sentiment", post_vectors, POSTS), tmp_path)
    clf = load_stacked_classifier("sentiment", None, tmp_path)
    [proba] = clf.predict_proba(["谢谢，非常满意"])
    assert set(proba) == set(clf.labels)
    assert max(proba, key=proba.__getitem__) == "positive"


def test_the_shipped_encoder_tier_tags_plain_cases() -> None:
    """The committed fine-tuned groups (posts: sentiment and emotion; category) on obvious texts."""
    tagger = load_encoder_tagger(None)
    assert tagger.tasks == ["sentiment", "emotion", "category"] and not tagger.heads
    for task, group in tagger.tuned.items():
        scores = group.meta["held_back_macro_f1"][task]
        assert task in group.meta["shipped"] and max(scores["blend_cv"], scores["tuned"]) > scores["fast"]
    rows = tagger.tag(
        [
            DocInput(1, "太开心了，今天收到了录取通知书，谢谢老师们！"),
            DocInput(2, "气死我了！投诉了三次都没人管，太过分了"),
            DocInput(
                3, "小区二次供水的楼顶水箱长年不清洗，自来水有很重的霉味，请环保部门来检测", "自来水有霉味"
            ),
            DocInput(4, "孩子所在的小学课后服务收费不合理，家长意见很大，请教育局核查", "小学课后服务收费"),
        ]
    )
    assert (rows[0]["sentiment"], rows[0]["emotion"]) == ("positive", "happy")
    assert (rows[1]["sentiment"], rows[1]["emotion"]) == ("negative", "angry")
    assert rows[3]["category"] == "教育文体"
