"""The shipped classifiers: loading, sensible predictions, artifacts, and the train guard."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from kernel.labels import TASK_CODES
from nlp import classifiers, features, train
from nlp.base import ModelNotFoundError, Prediction, TextClassifier
from nlp.classifiers import (
    MODELS_DIR,
    LinearClassifier,
    PostAnalyzer,
    VocabularyFilter,
    cut_message,
    load_classifier,
)
from sensing.commands.models import train_cmd
from storage.corrections import add_correction
from storage.db import make_engine
from storage.migrate import upgrade_database
from storage.store import Store
from tests.sensing.test_cli import config_for

POSITIVE = [
    "今天收到了礼物，太开心了！谢谢大家",
    "终于考上研究生了，开心到飞起哈哈哈",
    "感谢医护人员，你们辛苦了，祝福你们平安",
]
NEGATIVE = [
    "气死我了，排了三个小时的队还没办完，什么破服务",
    "太难过了，心里好痛，一直哭",
    "恶心，骗子公司退钱！投诉无门",
]


@functools.cache
def shipped(task: str) -> LinearClassifier:
    """Each shipped model is loaded once per test session (loading takes a second or two)."""
    clf = load_classifier(task)
    assert isinstance(clf, LinearClassifier)
    return clf


@pytest.fixture(scope="module")
def sentiment() -> TextClassifier:
    return shipped("sentiment")


def test_sentiment_on_clear_sentences(sentiment) -> None:
    preds = sentiment.predict(POSITIVE + NEGATIVE)
    assert [p.label for p in preds] == ["positive"] * 3 + ["negative"] * 3
    assert all(isinstance(p, Prediction) and 0.5 < p.score <= 1.0 for p in preds)


def test_proba_is_a_distribution_matching_predict(sentiment) -> None:
    texts = [*POSITIVE, "明天下午三点在会议室开会", ""]
    for pred, proba in zip(sentiment.predict(texts), sentiment.predict_proba(texts), strict=True):
        assert list(proba) == list(TASK_CODES["sentiment"])
        assert sum(proba.values()) == pytest.approx(1.0)
        assert proba[pred.label] == pytest.approx(pred.score)
    assert sentiment.predict([]) == []


def test_emotion_on_clear_sentences() -> None:
    emotion = shipped("emotion")
    labels = [
        p.label
        for p in emotion.predict(["哈哈哈太开心了，今天真是美好的一天", "气死了，这人太无耻了，简直混蛋"])
    ]
    assert labels == ["happy", "angry"]


def test_category_on_raw_messages() -> None:
    category = shipped("category")
    texts = [
        "A市A3区某学校乱收补课费\n\t\t\t尊敬的领导：我孩子在A3区某中学读初二，学校要求每个学生交补课费800元，教育局管不管？",
        "B市B2县化工厂夜间偷排废水\n\t\t\t河水发黑发臭，鱼都死了，附近居民闻到刺鼻气味，请环保部门查处污染。",
        "关于A市社保卡养老保险缴费年限的咨询\n\t\t\t我在单位工作十年，养老保险断缴两年，退休时怎么补缴？",
    ]
    assert [p.label for p in category.predict(texts)] == ["教育文体", "环境保护", "劳动和社会保障"]
    assert all(set(p) == set(TASK_CODES["category"]) for p in category.predict_proba(texts))


def test_message_cutting_drops_masked_places_and_numbers() -> None:
    tokens = cut_message("A市A1区西地省K9县 2019年12月 小区物业乱收停车费!!")
    assert not {"A", "A1", "K9", "2019", "12", "!", "西地省"} & set(tokens)
    assert "物业" in tokens and "停车费" in tokens
    assert VocabularyFilter({"物业", "停车费"})("A市小区物业乱收停车费") == "物业 停车费"
    feats = PostAnalyzer((1, 2), (1, 1))("开心")
    assert {"开", "开心", "w:开心"} <= set(feats)


@pytest.mark.parametrize("task", sorted(TASK_CODES))
def test_shipped_artifact_meta(task: str) -> None:
    meta = json.loads((MODELS_DIR / task / "meta.json").read_text(encoding="utf-8"))
    clf = shipped(task)
    assert clf.version == meta["version"] and clf.version.startswith(f"{task}-")
    assert meta["sha256_prefix"] in clf.version
    assert tuple(meta["labels"]) == TASK_CODES[task] == clf.labels


def test_missing_artifact_names_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=str(tmp_path)):
        load_classifier("sentiment", path=str(tmp_path))
    with pytest.raises(ValueError, match="unknown task"):
        load_classifier("weather")
    with pytest.raises(ValueError, match="unknown backend"):
        load_classifier("sentiment", backend="magic")


def _tiny_data(rows_per_label: int, noise: bool = False) -> train.TaskData:
    words = {"positive": "开心 喜欢 好棒", "neutral": "开会 下午 通知", "negative": "生气 讨厌 糟糕"}
    train_rows = []
    for label, text in words.items():
        for i in range(rows_per_label):
            # noisy data: labels rotated so the model learns nothing useful
            shown = list(words)[(list(words).index(label) + i) % 3] if noise else label
            train_rows.append((f"{text} 第{i}次", shown))
    dev = [(text, label) for label, text in words.items()]
    return train.TaskData(train_rows, {"usual": dev, "virus": dev})


def test_train_refuses_a_worse_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        train.SPECS, "sentiment", {**train.SPECS["sentiment"], "source": None, "min_df": 1, "tune_folds": 0}
    )
    monkeypatch.setattr(train, "load_task_data", lambda task: _tiny_data(6))
    good = train.train_task("sentiment", out_dir=tmp_path, only_if_better=True)
    assert good.saved and good.previous is None and good.dev["primary"] == pytest.approx(1.0)
    assert load_classifier("sentiment", path=str(tmp_path)).version == good.meta["version"]
    monkeypatch.setattr(train, "load_task_data", lambda task: _tiny_data(6, noise=True))
    db = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    sid = Store(engine).ensure_source("s", "rss", "social")
    (doc,) = Store(engine).write_documents(
        sid, [{"external_id": "1", "channel": "social", "content": "服务一般般吧", "content_hash": "1",
               "published_at": datetime(2026, 1, 1, tzinfo=UTC)}]
    ).new_ids  # fmt: skip
    add_correction(engine, doc, "sentiment", "neutral", "ana")
    cfg = config_for(tmp_path, f"sqlite:///{db}")
    result = CliRunner().invoke(train_cmd, ["sentiment", "--out", str(tmp_path), "--config", str(cfg)])
    assert result.exit_code == 1, result.output
    assert "1 analyst corrections" in result.output
    assert "kept the current model" in result.output and "1.0000" in result.output
    assert load_classifier("sentiment", path=str(tmp_path)).version == good.meta["version"]


def test_shared_features_do_not_change_results() -> None:
    texts = [*POSITIVE, *NEGATIVE, "明天下午三点在会议室开会"]
    classifiers._FEATURE_CACHE.clear()
    features._analyze_post.cache_clear()
    fresh = shipped("emotion").predict_proba(texts)
    shipped("sentiment").predict(texts[::-1])
    shipped("sentiment").predict(texts)  # fills the shared cache with this batch when featurizers match
    assert shipped("emotion").predict_proba(texts) == fresh
    sentiment, emotion = shipped("sentiment"), shipped("emotion")
    if sentiment.meta.get("features_sha") == emotion.meta.get("features_sha"):
        # sentiment is the emotion model's probabilities (under its own class weights) summed into 3 labels
        classes = [str(c) for c in emotion.model.classes_]
        w_emo, w_sent = emotion.meta["class_weights"] or {}, sentiment.meta["class_weights"] or {}
        for emo, sent in zip(fresh, sentiment.predict_proba(texts), strict=True):
            raw = {c: emo[c] / w_emo.get(c, 1.0) for c in classes}
            mass = {c: raw[c] * w_sent.get(c, 1.0) for c in classes if c != "surprise"}
            total = sum(mass.values())
            assert sent["positive"] == pytest.approx(mass["happy"] / total)
            assert sent["neutral"] == pytest.approx(mass["neutral"] / total)
            assert sent["negative"] == pytest.approx((mass["angry"] + mass["sad"] + mass["fear"]) / total)


def test_feature_cut_is_exactly_jiebas(shared_data: Path) -> None:
    """The models' word features come from the keyword tokenizer's fast cutter: jieba's tokens
    (user dictionary, HMM), so one cut of a text serves the classifiers and the keywords."""
    import json

    from nlp import features
    from nlp.tokenize import get_cutter, get_tokenizer

    shared = shared_data
    rows = json.loads((shared / "smp2020_ewect" / "usual_eval_labeled.txt").read_text(encoding="utf-8"))
    reference = get_tokenizer()
    texts = [features.normalize_text(r["content"]) for r in rows[:1500]] + ["", "   ", "ABC123 测试！！"]
    for text in texts:
        want = tuple(w for w in reference.lcut(text, HMM=True) if not w.isspace())
        assert features._cut.__wrapped__(text) == want, text
    assert features._cutter() is get_cutter()  # the keyword extractor's instance and memo


def test_fast_count_equals_sklearns(shared_data: Path) -> None:
    """CompactTfidfVectorizer's counting gives exactly sklearn's matrix for every shipped model."""
    import json

    import joblib
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    from nlp.classifiers import MODELS_DIR

    shared = shared_data
    rows = json.loads((shared / "smp2020_ewect" / "virus_eval_labeled.txt").read_text(encoding="utf-8"))
    texts = [r["content"] for r in rows[:400]] + ["", "完全没见过的词汇组合xyz", "西地省A市A1区 路灯不亮"]
    for task in ("sentiment", "emotion", "category"):
        bundle = joblib.load(MODELS_DIR / task / "model.joblib")
        vec = bundle["model"].steps[0][1]
        docs = [bundle["prepare"](t) for t in texts] if bundle["prepare"] is not None else texts
        _, fast = vec._count_vocab(docs, True)
        _, slow = CountVectorizer._count_vocab(vec, docs, True)
        assert fast.shape == slow.shape and fast.dtype == slow.dtype
        assert np.array_equal(fast.indptr, slow.indptr) and np.array_equal(fast.indices, slow.indices), task
        assert np.array_equal(fast.data, slow.data), task


def test_user_dictionary_change_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The shipped models record the user dictionary they were cut with; an edited one is reported."""
    import logging

    from nlp import classifiers
    from nlp.tokenize import userdict_sha

    assert classifiers.read_meta(classifiers.MODELS_DIR / "sentiment")["userdict_sha"] == userdict_sha()
    with caplog.at_level(logging.WARNING, logger="nlp.classifiers"):
        classifiers.load_linear("sentiment")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    monkeypatch.setattr(classifiers, "userdict_sha", lambda: "0000000000000000")
    with caplog.at_level(logging.WARNING, logger="nlp.classifiers"):
        classifiers.load_linear("sentiment")
    assert any("another user dictionary" in r.getMessage() for r in caplog.records)
