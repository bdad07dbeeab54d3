"""The transformers backend on a tiny BERT built and saved by the test itself (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from nlp.base import ModelNotFoundError, Prediction
from nlp.classifiers import load_classifier
from nlp.hf_backend import LabelMappingError, map_id2label

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"今天很开心生气难过害怕惊讶的了我"]


def make_tiny_model(directory: Path, id2label: dict[int, str]) -> Path:
    """Build a 1-layer BERT with a classification head and save it with its tokenizer."""
    vocab_file = directory / "vocab.txt"
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=False)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_round_trip_predicts_task_labels(tmp_path: Path) -> None:
    path = make_tiny_model(tmp_path / "tiny", {0: "negative", 1: "neutral", 2: "positive"})
    clf = load_classifier("sentiment", backend="transformers", path=str(path))
    texts = ["今天很开心", "我很生气", ""]
    preds = clf.predict(texts)
    assert len(preds) == 3 and all(isinstance(p, Prediction) for p in preds)
    assert {p.label for p in preds} <= {"positive", "neutral", "negative"}
    probas = clf.predict_proba(texts)
    for pred, proba in zip(preds, probas, strict=True):
        assert set(proba) == {"positive", "neutral", "negative"}
        assert sum(proba.values()) == pytest.approx(1.0, abs=1e-5)
        assert proba[pred.label] == pytest.approx(pred.score, abs=1e-6)
        assert max(proba, key=proba.__getitem__) == pred.label
    assert clf.version.startswith("sentiment-hf-tiny-")
    # same files, same version; changed weights, new version
    assert load_classifier("sentiment", "transformers", str(path)).version == clf.version
    make_tiny_model(tmp_path / "tiny2", {0: "negative", 1: "neutral", 2: "positive"})
    model = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "tiny2")
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    model.save_pretrained(tmp_path / "tiny2")
    assert (
        load_classifier("sentiment", "transformers", str(tmp_path / "tiny2")).version.split("-")[-1]
        != (clf.version.split("-")[-1])
    )


def test_emotion_model_collapses_to_sentiment(tmp_path: Path) -> None:
    labels = ["neutral", "happy", "angry", "sad", "fear", "surprise"]
    path = make_tiny_model(tmp_path / "emo", dict(enumerate(labels)))
    emotion = load_classifier("emotion", backend="transformers", path=str(path))
    sentiment = load_classifier("sentiment", backend="transformers", path=str(path))
    e = emotion.predict_proba(["今天很开心"])[0]
    s = sentiment.predict_proba(["今天很开心"])[0]
    kept = 1.0 - e["surprise"]
    assert s["positive"] == pytest.approx(e["happy"] / kept, abs=1e-5)
    assert s["negative"] == pytest.approx((e["angry"] + e["sad"] + e["fear"]) / kept, abs=1e-5)


def test_labels_that_do_not_fit_are_named(tmp_path: Path) -> None:
    path = make_tiny_model(tmp_path / "bad", {0: "LABEL_0", 1: "positive"})
    with pytest.raises(LabelMappingError, match="LABEL_0"):
        load_classifier("sentiment", backend="transformers", path=str(path))
    with pytest.raises(LabelMappingError, match="positive"):
        map_id2label("category", {0: "positive"})
    assert map_id2label("sentiment", {0: "NEGATIVE", 1: "Positive"}) == [2, 0]


def test_missing_directory_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="nowhere"):
        load_classifier("emotion", backend="transformers", path=str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotFoundError):
        load_classifier("emotion", backend="transformers", path=None)
