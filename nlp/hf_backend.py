"""The ``transformers`` backend: any local Hugging Face sequence-classification model directory.

Loading is offline only (``HF_HUB_OFFLINE=1`` and ``local_files_only=True``). The model's
``id2label`` must name labels of the task (case-insensitive); for ``sentiment`` a model with the
six SMP emotion labels is accepted too and its probabilities are summed into sentiments, as the
default backend does. Anything else is an error naming the labels that do not fit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kernel.labels import TASK_CODES
from nlp.base import MappedProbabilityClassifier, ModelNotFoundError
from nlp.datasets import EMOTION_TO_SENTIMENT

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_CHUNK = 1 << 20


class LabelMappingError(ValueError):
    """A model's ``id2label`` names labels that do not belong to the task."""


def map_id2label(task: str, id2label: dict[int, str]) -> list[int]:
    """Map each model output id (in id order) to an index in ``TASK_CODES[task]`` (-1: dropped).

    Raises:
        LabelMappingError: naming the model labels that fit neither the task nor, for sentiment,
            the SMP emotions.
    """
    labels = TASK_CODES[task]
    targets: list[int] = []
    bad: list[str] = []
    for idx in sorted(id2label):
        name = str(id2label[idx]).strip()
        key = name.lower()
        if name in labels or key in labels:
            targets.append(labels.index(name if name in labels else key))
        elif task == "sentiment" and key in EMOTION_TO_SENTIMENT:
            mapped = EMOTION_TO_SENTIMENT[key]
            targets.append(labels.index(mapped) if mapped is not None else -1)
        else:
            bad.append(name)
    if bad:
        raise LabelMappingError(f"model labels {bad} do not fit the {task} labels {list(labels)}")
    if all(t < 0 for t in targets):
        raise LabelMappingError(f"no model label maps to a {task} label: {sorted(id2label.values())}")
    return targets


def fingerprint_model_dir(path: Path) -> str:
    """A short hash of the config and weights (head and tail chunks plus size: cheap on big files)."""
    digest = hashlib.sha256()
    for name in ("config.json", *WEIGHT_FILES):
        file = path / name
        if not file.is_file():
            continue
        size = file.stat().st_size
        digest.update(f"{name}:{size}".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(_CHUNK))
            if size > 2 * _CHUNK:
                fh.seek(-_CHUNK, os.SEEK_END)
                digest.update(fh.read(_CHUNK))
    return digest.hexdigest()[:10]


class HfClassifier(MappedProbabilityClassifier):
    """A local transformers sequence-classification model behind the :class:`TextClassifier` API.

    Args:
        task: ``sentiment``, ``emotion`` or ``category``.
        model: a ``PreTrainedModel`` with a classification head (in eval mode).
        tokenizer: its tokenizer.
        version: the version string.
        batch_size: texts per forward pass.
        max_length: tokens kept per text.
    """

    def __init__(
        self, task: str, model: Any, tokenizer: Any, version: str, batch_size: int = 32, max_length: int = 256
    ) -> None:
        self.task = task
        self.labels = TASK_CODES[task]
        self.version = version
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self._targets = np.array(map_id2label(task, id2label))

    def _output_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t or "" for t in texts[start : start + self.batch_size]]
            enc = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            with torch.no_grad():
                logits = self.model(**enc).logits
            rows.append(torch.softmax(logits.float(), dim=-1).numpy())
        return np.concatenate(rows) if rows else np.zeros((0, len(self._targets)))


def load_hf_classifier(task: str, path: str | Path, batch_size: int = 32) -> HfClassifier:
    """Load a local Hugging Face model directory for ``task``; never touches the network.

    Raises:
        ModelNotFoundError: ``path`` is not a directory with a ``config.json``.
        LabelMappingError: the model's labels do not fit the task.
    """
    directory = Path(path)
    if not (directory / "config.json").is_file():
        raise ModelNotFoundError(
            f"{task} transformers model directory not found (no config.json): {directory}"
        )
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(directory), local_files_only=True)
    model.eval()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.resolve().name)[:40]
    version = f"{task}-hf-{name}-{fingerprint_model_dir(directory)}"
    logger.info("loaded transformers %s model %s from %s", task, version, directory)
    return HfClassifier(task, model, tokenizer, version, batch_size=batch_size)
