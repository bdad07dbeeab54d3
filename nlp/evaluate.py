"""Evaluate a classifier on a labelled file: metrics, file reader and report formatting.

Accepted files: a JSON array or JSON Lines of objects with ``content`` (or ``text``) and ``label``
(the SMP2020-EWECT ``*.txt`` files are JSON arrays), or a CSV with a header holding ``text`` (or
``content``) and ``label``, or a 问政 export's ``留言主题`` / ``留言详情`` / ``一级分类`` (title and body
joined by a newline, as the worker sees a message). For ``sentiment`` the SMP emotion labels are accepted and mapped
(happy -> positive, neutral -> neutral, angry/sad/fear -> negative; ``surprise`` rows are skipped).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from kernel.labels import TASK_CODES
from nlp.base import TextClassifier
from nlp.datasets import EMOTION_TO_SENTIMENT, Example

logger = logging.getLogger(__name__)


class EvalFileError(ValueError):
    """The evaluation file cannot be read or holds rows without text or label."""


class UnknownLabelError(ValueError):
    """The evaluation file holds labels outside the model's label set."""


def _row_example(row: Any, where: str) -> Example:
    if not isinstance(row, dict):
        raise EvalFileError(
            f"{where}: expected an object with text/content and label, got {type(row).__name__}"
        )
    text = row.get("content", row.get("text"))
    label = row.get("label")
    if text is None and "留言详情" in row:  # a TipDM / 问政 export: title + body as written
        text = f"{row.get('留言主题') or ''}\n{row['留言详情']}".strip()
    if label is None:
        label = row.get("一级分类")
    if text is None or label is None:
        raise EvalFileError(f"{where}: missing 'content'/'text' or 'label' (keys: {sorted(row)})")
    return str(text), str(label).strip()


def read_labelled_file(path: str | Path) -> list[Example]:
    """Read ``(text, label)`` pairs from a JSON array, JSON Lines or CSV file."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(raw, newline=""))  # quoted fields may span lines
        return [_row_example(row, f"{path}:{i + 2}") for i, row in enumerate(reader)]
    stripped = raw.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{path}: invalid JSON array: {exc}") from exc
        return [_row_example(row, f"{path}[{i}]") for i, row in enumerate(rows)]
    examples = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{path}:{lineno}: not JSON Lines ({exc})") from exc
        examples.append(_row_example(row, f"{path}:{lineno}"))
    return examples


def map_labels(task: str, examples: Sequence[Example]) -> list[Example]:
    """Check labels against the task's label set; map SMP emotion labels for ``sentiment``.

    Raises:
        UnknownLabelError: naming every label that does not belong to the task.
    """
    allowed = set(TASK_CODES[task])
    out: list[Example] = []
    unknown: set[str] = set()
    for text, label in examples:
        if label in allowed:
            out.append((text, label))
        elif task == "sentiment" and label in EMOTION_TO_SENTIMENT:
            mapped = EMOTION_TO_SENTIMENT[label]
            if mapped is not None:
                out.append((text, mapped))
        else:
            unknown.add(label)
    if unknown:
        raise UnknownLabelError(
            f"labels not in the {task} label set {TASK_CODES[task]}: {', '.join(sorted(unknown))}"
        )
    return out


def compute_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Macro-F1, accuracy, per-class precision/recall/F1 and the confusion matrix.

    Macro averages run over the labels present in ``y_true`` or ``y_pred`` (as scikit-learn does);
    ``per_class`` and the confusion matrix list every label of ``labels``.
    """
    present = [lab for lab in labels if lab in set(y_true) | set(y_pred)]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(labels), zero_division=0)
    _, _, f_macro, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="macro", zero_division=0
    )
    per_class = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=list(labels)).tolist() if len(y_true) else []
    return {
        "macro_f1": float(f_macro),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "n": len(y_true),
        "per_class": per_class,
        "confusion": {"labels": list(labels), "matrix": matrix},
    }


def evaluate_classifier(classifier: TextClassifier, examples: Sequence[Example]) -> dict[str, Any]:
    """Run ``classifier`` on ``examples`` and return metrics plus throughput (``docs_per_s``)."""
    texts = [t for t, _ in examples]
    start = time.perf_counter()
    preds = classifier.predict(texts)
    elapsed = time.perf_counter() - start
    result = compute_metrics([lab for _, lab in examples], [p.label for p in preds], classifier.labels)
    result["docs_per_s"] = len(texts) / elapsed if elapsed > 0 else float("inf")
    result["task"] = classifier.task
    result["model_version"] = classifier.version
    return result


def format_report(result: dict[str, Any]) -> str:
    """Render an evaluation result as a plain-text report."""
    lines = [
        f"task: {result.get('task', '?')}  model: {result.get('model_version', '?')}",
        f"n: {result['n']}  macro-F1: {result['macro_f1']:.4f}  accuracy: {result['accuracy']:.4f}"
        f"  docs/s: {result.get('docs_per_s', 0):.0f}",
        "",
        f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label, m in result["per_class"].items():
        lines.append(
            f"{label:<16}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10d}"
        )
    conf = result.get("confusion", {})
    if conf.get("matrix"):
        labels = conf["labels"]
        width = max(8, *(len(lab) + 2 for lab in labels))
        lines += [
            "",
            "confusion (rows = true, columns = predicted)",
            " " * 16 + "".join(f"{x:>{width}}" for x in labels),
        ]
        for label, row in zip(labels, conf["matrix"], strict=True):
            lines.append(f"{label:<16}" + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)
