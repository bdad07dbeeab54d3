"""One vocabulary: the dashboard, the reports and the alerts show every code with the same words."""

from __future__ import annotations

from alerts.message import build_notification  # noqa: F401 - imported to prove alerts read kernel.labels
from alerts.rules import subject_of
from kernel import labels
from reports import tables


def test_reports_and_alerts_use_the_kernel_labels() -> None:
    for code, text in labels.CHANNELS.items():
        assert tables.channel_label(code) == text
        assert subject_of("channel", code) == f"渠道「{text}」"
    assert {k: labels.SENTIMENTS[k] for k in tables.SENTIMENT_LABELS} == tables.SENTIMENT_LABELS
    assert {k: labels.EMOTIONS[k] for k in tables.EMOTION_LABELS} == tables.EMOTION_LABELS
    assert set(tables.EMOTION_LABELS) == set(labels.EMOTION_CODES)
    assert set(tables.SENTIMENT_LABELS) == set(labels.SENTIMENT_CODES)


def test_every_model_code_has_a_label() -> None:
    for code in labels.SENTIMENT_CODES:
        assert labels.label("sentiment", code) != code
    for code in labels.EMOTION_CODES:
        assert labels.label("emotion", code) != code


def test_the_labels_that_used_to_disagree() -> None:
    assert labels.label("channel", "hotline") == "12345热线"
    assert labels.label("channel", "gov") == "政务平台"
    assert labels.label("emotion", "surprise") == "惊讶"
    assert labels.label("status", "resolved") == "已解除"
