"""Evaluation: file formats, label checks, metrics against scikit-learn, the ``eval`` command."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from kernel.labels import SENTIMENT_CODES
from nlp.base import Prediction, TextClassifier
from nlp.evaluate import (
    EvalFileError,
    UnknownLabelError,
    compute_metrics,
    evaluate_classifier,
    format_report,
    map_labels,
    read_labelled_file,
)
from sensing.commands.models import eval_cmd
from tests.sensing.test_cli import config_for

ROWS = [
    {"content": "今天真开心，谢谢大家", "label": "positive"},
    {"content": "气死我了，什么破服务", "label": "negative"},
    {"content": "明天下午三点开会", "label": "neutral"},
    {"content": '太失望了，\n再也不来了, "真的"', "label": "negative"},
]


class KeywordClassifier(TextClassifier):
    """A deterministic stand-in model: positive if 开心, negative if 气/失望, else neutral."""

    task = "sentiment"
    labels = SENTIMENT_CODES
    version = "sentiment-test-1"

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        out = []
        for t in texts:
            label = "positive" if "开心" in t else "negative" if ("气" in t or "失望" in t) else "neutral"
            out.append(Prediction(label, 0.9))
        return out


def write(path: Path, fmt: str, rows: list[dict[str, str]]) -> Path:
    if fmt == "array":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows([[r["content"], r["label"]] for r in rows])
    return path


@pytest.mark.parametrize(("fmt", "suffix"), [("array", ".json"), ("jsonl", ".jsonl"), ("csv", ".csv")])
def test_reads_every_format(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = write(tmp_path / f"rows{suffix}", fmt, ROWS)
    assert read_labelled_file(path) == [(r["content"], r["label"]) for r in ROWS]


def test_reads_text_key_and_smp_style_txt(tmp_path: Path) -> None:
    smp = tmp_path / "usual_eval_labeled.txt"
    smp.write_text(
        json.dumps([{"id": 1, "content": "好开心", "label": "happy"}], ensure_ascii=False), "utf-8"
    )
    assert read_labelled_file(smp) == [("好开心", "happy")]
    jl = tmp_path / "rows.txt"
    jl.write_text('{"text": "a", "label": "neutral"}\n\n{"text": "b", "label": "positive"}\n', "utf-8")
    assert read_labelled_file(jl) == [("a", "neutral"), ("b", "positive")]


def test_bad_rows_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "x"}\n', encoding="utf-8")
    with pytest.raises(EvalFileError, match="label"):
        read_labelled_file(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"content": "x", "label": "positive"}\n{oops\n', encoding="utf-8")
    with pytest.raises(EvalFileError, match=":2"):
        read_labelled_file(broken)


def test_unknown_labels_are_named() -> None:
    with pytest.raises(UnknownLabelError, match=r"joy, meh"):
        map_labels("sentiment", [("a", "joy"), ("b", "positive"), ("c", "meh")])
    with pytest.raises(UnknownLabelError, match="happy"):
        map_labels("category", [("a", "happy")])


def test_smp_emotions_map_to_sentiment() -> None:
    rows = [("a", "happy"), ("b", "angry"), ("c", "surprise"), ("d", "fear"), ("e", "neutral")]
    assert map_labels("sentiment", rows) == [
        ("a", "positive"),
        ("b", "negative"),
        ("d", "negative"),
        ("e", "neutral"),
    ]


def test_metrics_equal_sklearn() -> None:
    y_true = ["positive", "negative", "neutral", "negative", "positive", "neutral", "negative"]
    y_pred = ["positive", "neutral", "neutral", "negative", "negative", "neutral", "negative"]
    m = compute_metrics(y_true, y_pred, SENTIMENT_CODES)
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(SENTIMENT_CODES))
    for i, label in enumerate(SENTIMENT_CODES):
        assert m["per_class"][label] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
        )
    assert m["confusion"]["matrix"] == confusion_matrix(y_true, y_pred, labels=list(SENTIMENT_CODES)).tolist()
    assert m["n"] == 7


def test_evaluate_classifier_and_report(tmp_path: Path) -> None:
    examples = read_labelled_file(write(tmp_path / "r.json", "array", ROWS))
    result = evaluate_classifier(KeywordClassifier(), examples)
    preds = [p.label for p in KeywordClassifier().predict([t for t, _ in examples])]
    assert result["macro_f1"] == pytest.approx(f1_score([lab for _, lab in examples], preds, average="macro"))
    assert result["docs_per_s"] > 0
    report = format_report(result)
    assert "macro-F1" in report and "confusion" in report and "negative" in report


def test_eval_command_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "nlp.classifiers.load_classifier", lambda task, backend="default", path=None: KeywordClassifier()
    )
    path = write(tmp_path / "rows.csv", "csv", ROWS)
    cfg = ["--config", str(config_for(tmp_path, f"sqlite:///{tmp_path / 'e.db'}"))]
    result = CliRunner().invoke(eval_cmd, ["sentiment", str(path), "--json", *cfg])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"macro_f1", "accuracy", "n", "docs_per_s", "per_class"} <= set(data)
    assert data["n"] == 4 and data["accuracy"] == pytest.approx(1.0)
    text = CliRunner().invoke(eval_cmd, ["sentiment", str(path), *cfg])
    assert text.exit_code == 0 and "macro-F1: 1.0000" in text.output


def test_eval_command_errors(tmp_path: Path) -> None:
    cfg = ["--config", str(config_for(tmp_path, f"sqlite:///{tmp_path / 'e.db'}"))]
    bad = write(tmp_path / "bad.jsonl", "jsonl", [{"content": "x", "label": "joy"}])
    result = CliRunner().invoke(eval_cmd, ["sentiment", str(bad), *cfg])
    assert result.exit_code != 0 and "joy" in result.output
    good = write(tmp_path / "good.jsonl", "jsonl", ROWS)
    missing = CliRunner().invoke(eval_cmd, ["sentiment", str(good), "--model", str(tmp_path / "none"), *cfg])
    assert missing.exit_code != 0 and str(tmp_path / "none") in missing.output
