"""Training code: the NB-LR and compact estimators, the soft-vote pipeline, memoised fits, the CLI."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression

from nlp import train
from nlp.classifiers import CompactLogisticRegression, NbLogisticRegression
from nlp.train_eval import bundle_classifier


def _sparse_data(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Three classes, each with its own indicative features plus shared noise features."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(90):
        label = i % 3
        x = (rng.random(30) < 0.1).astype(np.float32)
        x[label * 5 : label * 5 + 5] += (rng.random(5) < 0.6).astype(np.float32)
        rows.append(x)
        labels.append(["a", "b", "c"][label])
    return sp.csr_matrix(np.array(rows)), np.array(labels)


def _roundtrip(obj: object) -> object:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def test_nb_lr_folds_the_log_count_ratio_into_its_coefficients() -> None:
    X, y = _sparse_data()
    model = NbLogisticRegression(C=2.0).fit(X, y)
    assert list(model.classes_) == ["a", "b", "c"]
    # class "b": the ratio-scaled binary model, computed by hand, gives the same log-odds
    present = (X > 0).astype(np.float64)
    p = np.asarray(present[y == "b"].sum(axis=0)).ravel() + 1.0
    q = np.asarray(present[y != "b"].sum(axis=0)).ravel() + 1.0
    ratio = np.log(p / p.sum()) - np.log(q / q.sum())
    binary = LogisticRegression(C=2.0, max_iter=3000).fit(X @ sp.diags(ratio), y == "b")
    expected = binary.decision_function(X @ sp.diags(ratio))
    assert model.decision_function(X)[:, 1] == pytest.approx(expected, abs=0.05)  # float16 coefficients
    proba = model.predict_proba(X)
    assert proba.sum(axis=1) == pytest.approx(np.ones(len(y)))
    assert (model.predict(X) == y).mean() > 0.9


@pytest.mark.parametrize("estimator", [NbLogisticRegression(C=2.0), CompactLogisticRegression(C=2.0)])
def test_compact_estimators_pickle_half_size_without_loss(estimator) -> None:
    X, y = _sparse_data(1)
    estimator.fit(X, y)
    assert estimator.__getstate__()["coef_"].dtype == np.float16
    loaded = _roundtrip(estimator)
    assert loaded.coef_.dtype == np.float32
    assert np.array_equal(loaded.predict_proba(X), estimator.predict_proba(X))


def _posts(per_label: int) -> list[tuple[str, str]]:
    words = {
        "happy": "开心 喜欢 好棒",
        "angry": "生气 讨厌 糟糕",
        "neutral": "开会 下午 通知",
        "sad": "难过 哭 心痛",
    }
    return [(f"{text} 第{i}次", label) for label, text in words.items() for i in range(per_label)]


def test_sentiment_and_emotion_share_one_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    for task in ("sentiment", "emotion"):
        monkeypatch.setitem(train.SPECS, task, {**train.SPECS[task], "min_df": 1})
    rows = _posts(6)
    emotion = train.fit_bundle("emotion", rows, tune=True)
    sentiment = train.fit_bundle("sentiment", rows, tune=True)
    assert isinstance(emotion["model"][-1], VotingClassifier)
    assert sentiment["model"] is emotion["model"]  # memoised: same spec, same rows
    assert sentiment["collapse"] and emotion["collapse"] is None
    assert set(emotion["weights"]) == {"angry", "happy", "neutral", "sad"}
    other = train.fit_bundle("emotion", rows[:-1], tune=True)
    assert other["model"] is not emotion["model"]
    texts = ["今天好开心 喜欢", "生气 讨厌"]
    labels = [p.label for p in bundle_classifier("emotion", emotion).predict(texts)]
    assert labels == ["happy", "angry"]


def test_cli_rejects_out_with_several_tasks(tmp_path) -> None:
    with pytest.raises(SystemExit):
        train.main(["sentiment", "emotion", "--out", str(tmp_path)])
