"""The topic model's persisted state: configuration, topics, document assignments, centroids, files."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

OUTLIER_TOPIC = -1
OUTLIER_LABEL = "其他"
STATE_FILE = "state.json"
MODEL_FILE = "bertopic.pickle"
CENTROIDS_FILE = "centroids.npz"
STATE_VERSION = 1


class TopicModelError(RuntimeError):
    """A topic state cannot be used (e.g. transform before fit, unreadable state directory)."""


class DegenerateWindowError(ValueError):
    """A window has too little distinct text to model (all duplicates, stop words or symbols)."""


@dataclass(frozen=True)
class TopicModelConfig:
    """Settings of :class:`TopicModeler`; the defaults are the measured best on the shared sets."""

    window_days: float = 30.0  # fit on documents this close to the newest timestamp
    max_docs: int = 5000  # keep at most this many of the newest documents in a window
    min_docs: int = 20  # below this a window is not modelled (every document is an outlier)
    min_topic_size: int | None = None  # HDBSCAN min_cluster_size; None: n_docs / 100 in [5, 50]
    n_neighbors: int = 15  # UMAP neighbourhood (capped at n_docs - 1)
    n_components: int = 5  # UMAP output dimensions
    embed_dim: int = 100  # SVD dimensions of the LSA embedder (capped by the window's vocabulary)
    analyzer: str = "char"  # embedder features: "char" n-grams (measured best) or jieba "word"s
    ngram_range: tuple[int, int] = (1, 2)  # n-gram range of the embedder's features
    top_n_terms: int = 10  # terms kept per topic
    label_terms: int = 3  # terms joined into a label ("燃气_爆炸_小区")
    match_threshold: float = 0.3  # minimum similarity for a refit topic to inherit an old id
    assign_threshold: float = 0.3  # minimum centroid cosine for transform() to assign a topic
    absorb_outliers: bool = True  # a fit's outliers join a topic they are as close to as its members
    seed: int = 42


@dataclass(frozen=True)
class TopicInfo:
    """One topic: its stable id, label, top terms with c-TF-IDF weights, and size in the window."""

    topic_id: int
    label: str
    terms: list[tuple[str, float]]
    size: int


@dataclass
class TopicModelState:
    """Everything a worker needs to assign topics between refits; save/load with a directory."""

    model: Any  # fitted BERTopic, or None when the window was too small to model
    topics: dict[int, TopicInfo]  # stable id -> topic (outliers excluded)
    id_map: dict[int, int]  # BERTopic topic -> stable id (-1 -> -1)
    next_id: int  # first id never handed out yet
    doc_topics: list[int]  # stable topic of each window document
    doc_probs: list[float]
    doc_keys: list[str]  # short hashes of the window documents (for matching across refits)
    timestamps: list[str | None]  # ISO timestamps of the window documents
    config: TopicModelConfig = field(default_factory=TopicModelConfig)
    centroids: dict[int, np.ndarray] = field(default_factory=dict)  # stable id -> mean embedding
    fitted_at: str = ""

    def label_of(self, topic_id: int) -> str:
        """Label of a stable topic id (``其他`` for outliers and unknown ids)."""
        info = self.topics.get(topic_id)
        return info.label if info else OUTLIER_LABEL

    def relabel(self, mapping: dict[int, int], next_id: int = 0) -> TopicModelState:
        """Return a copy whose topic ids are replaced through ``mapping`` (current id -> new id).

        ``next_id`` carries the id counter of the state this one continues, so ids never recur.
        """

        def m(t: int) -> int:
            return mapping.get(t, t) if t != OUTLIER_TOPIC else OUTLIER_TOPIC

        topics = {m(t): replace(info, topic_id=m(t)) for t, info in self.topics.items()}
        return replace(
            self,
            topics=topics,
            id_map={k: m(v) for k, v in self.id_map.items()},
            doc_topics=[m(t) for t in self.doc_topics],
            centroids={m(t): v for t, v in self.centroids.items()},
            next_id=max([next_id, *(t + 1 for t in topics)]),
        )

    def save(self, path: str | Path) -> Path:
        """Write the state to directory ``path`` (BERTopic pickled with joblib, metadata as JSON)."""
        import joblib

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.vectorizer_model.stop_words_ = None  # as BERTopic.save does, keeps it small
            joblib.dump(self.model, directory / MODEL_FILE)
        arrays: dict[str, Any] = {str(t): v for t, v in self.centroids.items()}
        np.savez(directory / CENTROIDS_FILE, **arrays)
        meta = {
            "version": STATE_VERSION,
            "has_model": self.model is not None,
            "topics": [asdict(t) for t in self.topics.values()],
            "id_map": {str(k): v for k, v in self.id_map.items()},
            "next_id": self.next_id,
            "doc_topics": self.doc_topics,
            "doc_probs": self.doc_probs,
            "doc_keys": self.doc_keys,
            "timestamps": self.timestamps,
            "config": asdict(self.config),
            "fitted_at": self.fitted_at,
        }
        (directory / STATE_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, path: str | Path) -> TopicModelState:
        """Read a state written by :meth:`save` (the pickle must come from a trusted worker)."""
        directory = Path(path)
        meta = _read_meta(directory)
        model = None
        if meta["has_model"]:
            import joblib

            model = joblib.load(directory / MODEL_FILE)
        with np.load(directory / CENTROIDS_FILE) as npz:
            centroids = {int(k): npz[k] for k in npz.files}
        known = {f.name for f in fields(TopicModelConfig)}
        cfg = {k: v for k, v in meta["config"].items() if k in known}
        cfg["ngram_range"] = tuple(cfg.get("ngram_range", (1, 2)))
        topics = {
            t["topic_id"]: TopicInfo(t["topic_id"], t["label"], [(w, s) for w, s in t["terms"]], t["size"])
            for t in meta["topics"]
        }
        return cls(
            model=model,
            topics=topics,
            id_map={int(k): v for k, v in meta["id_map"].items()},
            next_id=meta["next_id"],
            doc_topics=meta["doc_topics"],
            doc_probs=meta["doc_probs"],
            doc_keys=meta["doc_keys"],
            timestamps=meta["timestamps"],
            config=TopicModelConfig(**cfg),
            fitted_at=meta["fitted_at"],
            centroids=centroids,
        )


def _read_meta(directory: Path) -> dict[str, Any]:
    """The JSON part of a state written by :meth:`TopicModelState.save`."""
    try:
        meta: dict[str, Any] = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TopicModelError(f"cannot read topic state in {directory}: {exc}") from exc
    return meta


def doc_key(text: str) -> str:
    """Short stable hash identifying a document across windows."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def make_label(terms: Sequence[tuple[str, float]], n: int = 3) -> str:
    """Join the top ``n`` terms into a label such as ``燃气_爆炸_小区``."""
    words = [w for w, _ in terms[:n] if w]
    return "_".join(words) if words else OUTLIER_LABEL


CURRENT_FILE = "CURRENT"
KEEP_STATES = 3


def save_current_state(state: TopicModelState, root: str | Path) -> Path:
    """Save ``state`` under ``root`` as a new version and point ``root/CURRENT`` at it atomically.

    A worker reading while a refit writes always sees a complete state. Older versions beyond
    the newest ``KEEP_STATES`` are removed.
    """
    import os
    import shutil

    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    name = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    while (base / name).exists():  # two saves within one microsecond
        name += "x"
    state.save(base / name)
    tmp = base / f".{CURRENT_FILE}.tmp"
    tmp.write_text(name, encoding="utf-8")
    os.replace(tmp, base / CURRENT_FILE)
    versions = sorted(p for p in base.iterdir() if p.is_dir() and p.name[:1].isdigit())
    for old in versions[:-KEEP_STATES]:
        shutil.rmtree(old, ignore_errors=True)
    return base / name


def _current_dir(root: str | Path) -> Path | None:
    """The directory ``root/CURRENT`` points at, or ``None`` when no refit has run yet."""
    pointer = Path(root) / CURRENT_FILE
    if not pointer.is_file():
        return None
    return Path(root) / pointer.read_text(encoding="utf-8").strip()


def load_current_state(root: str | Path) -> TopicModelState | None:
    """Load the state ``root/CURRENT`` points at, or ``None`` when no refit has run yet."""
    directory = _current_dir(root)
    return None if directory is None else TopicModelState.load(directory)


def fitted_documents(root: str | Path) -> int | None:
    """How many documents the current state was fitted on (its JSON only), or ``None`` before any refit."""
    directory = _current_dir(root)
    if directory is None:
        return None
    return len(_read_meta(directory)["doc_keys"])


def topic_state_root(settings: Any) -> Path:
    """Where refits store their states: ``<app.data_dir>/topics``."""
    return Path(settings.app.data_dir) / "topics"


def config_from_settings(settings: Any) -> TopicModelConfig:
    """Build a :class:`TopicModelConfig` from the ``nlp.topics`` settings section."""
    section = settings.nlp.topics
    return TopicModelConfig(
        window_days=float(section.window_days),
        min_topic_size=section.min_topic_size,
        max_docs=section.max_docs,
    )
