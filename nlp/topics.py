"""Topic discovery with BERTopic on a sliding window, with topic ids stable across refits.

Pipeline (chosen by measurement, see ``bench/topics.py``): character 1-2-gram TF-IDF -> truncated
SVD (100 dims, i.e. LSA fitted on the window) as BERTopic's scikit-learn embedder, UMAP (5 dims,
cosine) -> HDBSCAN, and c-TF-IDF over jieba words (:func:`nlp.tokenize.cut_words`) for the topic
terms. Nothing is downloaded: the embedder is fitted on the window itself, so BERTopic never asks
the Hugging Face hub for a sentence-transformer.

New documents between refits are embedded with the window's LSA and given the topic whose
centroid (mean embedding of its documents) is the most cosine-similar, or ``-1`` below
``assign_threshold``; on held-out data this scored higher NMI/ARI than BERTopic's own
UMAP + HDBSCAN ``approximate_predict`` and avoids UMAP's numba compilation in the worker.

Topic ids: BERTopic numbers topics 0..k-1 by size on every fit. :func:`match_topics` pairs the
topics of a refit with those of the previous state (Hungarian assignment on the larger of
top-term cosine similarity and member-document Jaccard over the documents both windows share);
a matched topic keeps its id, an unmatched one gets a fresh id from ``next_id``, and ids are never
reused. ``-1`` is the outlier topic ("其他").
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from nlp.tokenize import cut_words

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
        try:
            meta = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TopicModelError(f"cannot read topic state in {directory}: {exc}") from exc
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


def doc_key(text: str) -> str:
    """Short stable hash identifying a document across windows."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def make_label(terms: Sequence[tuple[str, float]], n: int = 3) -> str:
    """Join the top ``n`` terms into a label such as ``燃气_爆炸_小区``."""
    words = [w for w, _ in terms[:n] if w]
    return "_".join(words) if words else OUTLIER_LABEL


def _term_similarity(a: TopicInfo, b: TopicInfo) -> float:
    va, vb = dict(a.terms), dict(b.terms)
    dot = sum(w * vb[t] for t, w in va.items() if t in vb)
    na = math.sqrt(sum(w * w for w in va.values()))
    nb = math.sqrt(sum(w * w for w in vb.values()))
    return dot / (na * nb) if na and nb else 0.0


def _doc_similarity(old: TopicModelState, new: TopicModelState) -> dict[tuple[int, int], float]:
    """Jaccard of member documents, over the documents present in both windows."""
    old_by_key = dict(zip(old.doc_keys, old.doc_topics, strict=False))
    members_old: dict[int, set[str]] = {}
    members_new: dict[int, set[str]] = {}
    for key, topic in zip(new.doc_keys, new.doc_topics, strict=False):
        if key in old_by_key:
            members_new.setdefault(topic, set()).add(key)
            members_old.setdefault(old_by_key[key], set()).add(key)
    out: dict[tuple[int, int], float] = {}
    for a, keys_a in members_old.items():
        for b, keys_b in members_new.items():
            inter = len(keys_a & keys_b)
            if inter and a != OUTLIER_TOPIC and b != OUTLIER_TOPIC:
                out[(a, b)] = inter / len(keys_a | keys_b)
    return out


def match_topics(
    old_state: TopicModelState | None, new_state: TopicModelState, threshold: float = 0.3
) -> dict[int, int]:
    """Map the topic ids of ``new_state`` to stable ids continuing ``old_state``.

    Args:
        old_state: the previous state, or ``None`` for the first fit.
        new_state: a freshly fitted state (ids as BERTopic numbered them).
        threshold: minimum similarity (0..1) for a new topic to inherit an old id.

    Returns:
        ``{new_state_id: stable_id}`` for every topic of ``new_state`` plus ``-1 -> -1``. Matched
        topics get the old id; the others get fresh ids from ``old_state.next_id`` upwards.
    """
    new_ids = sorted(new_state.topics)
    mapping = {OUTLIER_TOPIC: OUTLIER_TOPIC}
    next_id = 0 if old_state is None else old_state.next_id
    if old_state is not None and old_state.topics and new_ids:
        old_ids = sorted(old_state.topics)
        doc_sim = _doc_similarity(old_state, new_state)
        sim = np.zeros((len(old_ids), len(new_ids)))
        for i, a in enumerate(old_ids):
            for j, b in enumerate(new_ids):
                term = _term_similarity(old_state.topics[a], new_state.topics[b])
                sim[i, j] = max(term, doc_sim.get((a, b), 0.0))
        rows, cols = linear_sum_assignment(-sim)
        for i, j in zip(rows, cols, strict=True):
            if sim[i, j] >= threshold:
                mapping[new_ids[j]] = old_ids[i]
    for b in new_ids:  # unmatched, in size order: fresh ids
        if b not in mapping:
            mapping[b] = next_id
            next_id += 1
    return mapping


def split_tokens(text: str) -> list[str]:
    """Tokenizer of the c-TF-IDF vectorizer: documents are pre-cut, space-joined words."""
    return text.split()


def _auto_min_topic_size(n_docs: int) -> int:
    return int(min(50, max(5, round(n_docs / 100))))


def build_embedder(config: TopicModelConfig, n_docs: int, texts: Sequence[str]) -> tuple[Any, np.ndarray]:
    """Fit the offline LSA embedder on ``texts``; return the fitted pipeline and the embeddings."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    if config.analyzer == "word":
        vectorizer = TfidfVectorizer(
            tokenizer=cut_words,
            token_pattern=None,
            lowercase=False,
            ngram_range=config.ngram_range,
            sublinear_tf=True,
            min_df=2,
        )
    elif config.analyzer == "char":
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=config.ngram_range, sublinear_tf=True, min_df=2
        )
    else:
        raise ValueError(f"unknown embedder analyzer {config.analyzer!r}; expected 'char' or 'word'")
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no feature occurs twice: fall back to keeping them all
        vectorizer.set_params(min_df=1)
        try:
            counts = vectorizer.fit_transform(texts)
        except ValueError as exc:  # empty vocabulary
            raise DegenerateWindowError(str(exc)) from exc
    if counts.shape[1] < 3:
        raise DegenerateWindowError(f"only {counts.shape[1]} distinct embedder features")
    dim = max(2, min(config.embed_dim, counts.shape[1] - 1, n_docs - 1))
    pipe = make_pipeline(vectorizer, TruncatedSVD(dim, random_state=config.seed), Normalizer())
    with warnings.catch_warnings():
        # near-duplicate windows give a zero total variance in SVD's explained_variance_ratio_
        warnings.simplefilter("ignore", RuntimeWarning)
        embeddings = pipe.fit_transform(texts)
    return pipe, np.asarray(embeddings, dtype=np.float64)


def _build_bertopic(config: TopicModelConfig, n_docs: int, embedder: Any) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    with warnings.catch_warnings():
        # umap warns at import that TensorFlow (ParametricUMAP) is absent; we do not use it
        warnings.simplefilter("ignore", ImportWarning)
        from bertopic import BERTopic
        from bertopic.vectorizers import ClassTfidfTransformer
        from hdbscan import HDBSCAN
        from umap import UMAP

    n_neighbors = max(2, min(config.n_neighbors, n_docs - 1))
    n_components = max(2, min(config.n_components, n_docs - 2))
    min_size = config.min_topic_size or _auto_min_topic_size(n_docs)
    return BERTopic(
        language="chinese",
        embedding_model=embedder,
        umap_model=UMAP(
            n_neighbors=n_neighbors,
            n_components=n_components,
            min_dist=0.0,
            metric="cosine",
            random_state=config.seed,
            n_jobs=1,
        ),
        hdbscan_model=HDBSCAN(
            min_cluster_size=min_size,
            metric="euclidean",
            cluster_selection_method="eom",
            prediction_data=True,
        ),
        # documents reach BERTopic already cut by jieba (see _fit_window): split on spaces only
        vectorizer_model=CountVectorizer(tokenizer=split_tokens, token_pattern=None, lowercase=False),
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        top_n_words=config.top_n_terms,
        min_topic_size=min_size,
        calculate_probabilities=False,
        verbose=False,
    )


def _select_window(
    texts: Sequence[str], timestamps: Sequence[Any] | None, config: TopicModelConfig
) -> tuple[list[str], list[pd.Timestamp | None]]:
    """Keep non-empty documents within ``window_days`` of the newest one, at most ``max_docs``."""
    if timestamps is not None and len(timestamps) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(timestamps)} timestamps")
    stamps = [None] * len(texts) if timestamps is None else list(pd.to_datetime(list(timestamps), utc=True))
    rows = [(t, s) for t, s in zip(texts, stamps, strict=True) if isinstance(t, str) and t.strip()]
    known = [s for _, s in rows if s is not None and not pd.isna(s)]
    if known:
        start = max(known) - pd.Timedelta(days=config.window_days)
        rows = [(t, s) for t, s in rows if s is None or pd.isna(s) or s >= start]
        rows.sort(key=lambda r: r[1] if r[1] is not None and not pd.isna(r[1]) else start)
    rows = rows[-config.max_docs :]
    return [t for t, _ in rows], [None if s is None or pd.isna(s) else s for _, s in rows]


def assign_topics(state: TopicModelState, texts: Sequence[str]) -> list[tuple[int, float]]:
    """Nearest topic centroid (cosine, in the window's LSA space) for each text.

    Returns ``(stable_id, cosine)`` per text, or ``(-1, 0.0)`` when the best cosine is below
    ``state.config.assign_threshold``, the text is empty, or the state has no topics.
    """
    out: list[tuple[int, float]] = [(OUTLIER_TOPIC, 0.0)] * len(texts)
    idx = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    if not idx or state.model is None or not state.centroids:
        return out
    ids = sorted(state.centroids)
    centres = np.stack([state.centroids[t] for t in ids])
    centres = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    emb = np.asarray(state.model.embedding_model.embed([texts[i] for i in idx]), dtype=np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sims = emb @ centres.T
    best = sims.argmax(axis=1)
    for row, i in enumerate(idx):
        score = float(sims[row, best[row]])
        if score >= state.config.assign_threshold:
            out[i] = (ids[best[row]], round(score, 4))
    return out


class TopicModeler:
    """Fits topics on a sliding window and assigns topics to new documents between refits.

    Args:
        config: model settings (defaults are the benchmarked ones).
        state: a previous state (e.g. :meth:`TopicModelState.load`) to continue its topic ids.
    """

    def __init__(self, config: TopicModelConfig | None = None, state: TopicModelState | None = None) -> None:
        self.config = config or (state.config if state else TopicModelConfig())
        self.state = state

    def fit(self, texts: Sequence[str], timestamps: Sequence[Any] | None = None) -> TopicModelState:
        """Fit on the window of ``texts`` and return the new state (ids continue the previous one).

        Args:
            texts: documents (title + body); empty ones are ignored.
            timestamps: one datetime-like per text, or ``None`` to use every text.
        """
        cfg = self.config
        docs, stamps = _select_window(texts, timestamps, cfg)
        iso = [s.isoformat() if s is not None else None for s in stamps]
        keys = [doc_key(d) for d in docs]
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        fresh = None
        if len(docs) < cfg.min_docs:
            logger.info("topic window has %d documents (< %d): not modelled", len(docs), cfg.min_docs)
        else:
            try:
                fresh = self._fit_window(docs, keys, iso, now)
            except DegenerateWindowError as exc:
                logger.warning("topic window of %d documents not modelled: %s", len(docs), exc)
        if fresh is None:
            n = len(docs)
            fresh = TopicModelState(
                None, {}, {-1: -1}, 0, [-1] * n, [0.0] * n, keys, iso, config=cfg, fitted_at=now
            )
        old = self.state
        mapping = match_topics(old, fresh, cfg.match_threshold)
        state = fresh.relabel(mapping, next_id=old.next_id if old else 0)
        kept = sum(1 for b, s in mapping.items() if b != OUTLIER_TOPIC and old and s in old.topics)
        logger.info(
            "topics fitted: %d documents, %d topics (%d kept their id), %.0f%% outliers",
            len(docs),
            len(state.topics),
            kept,
            100.0 * state.doc_topics.count(OUTLIER_TOPIC) / max(1, len(docs)),
        )
        self.state = state
        return state

    def _fit_window(
        self, docs: list[str], keys: list[str], iso: list[str | None], now: str
    ) -> TopicModelState:
        cfg = self.config
        embedder, embeddings = build_embedder(cfg, len(docs), docs)
        model = _build_bertopic(cfg, len(docs), embedder)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden.*")
            try:
                # jieba runs once per document here instead of twice inside BERTopic
                # (c-TF-IDF and representative documents)
                cut = [" ".join(cut_words(d)) for d in docs]
                topics, probs = model.fit_transform(cut, embeddings=embeddings)
            except ValueError as exc:
                if "empty vocabulary" in str(exc):  # every word is a stop word or too short
                    raise DegenerateWindowError("no content words for topic terms") from exc
                raise
        sizes = pd.Series(topics).value_counts()
        infos: dict[int, TopicInfo] = {}
        for t in sorted(int(x) for x in set(topics) if x != OUTLIER_TOPIC):
            terms = [(str(w), float(s)) for w, s in (model.get_topic(t) or []) if w]
            infos[t] = TopicInfo(t, make_label(terms, cfg.label_terms), terms, int(sizes.get(t, 0)))
        probs_list = [
            float(p) for p in np.asarray(probs if probs is not None else np.zeros(len(docs))).reshape(-1)
        ]
        id_map = {OUTLIER_TOPIC: OUTLIER_TOPIC, **{t: t for t in infos}}
        next_id = max(infos) + 1 if infos else 0
        assigned = np.asarray(topics)
        centroids = {t: embeddings[assigned == t].mean(axis=0) for t in infos}
        doc_topics = [int(t) for t in topics]
        return TopicModelState(
            model,
            infos,
            id_map,
            next_id,
            doc_topics,
            probs_list,
            keys,
            iso,
            config=cfg,
            fitted_at=now,
            centroids=centroids,
        )

    def transform(self, texts: Sequence[str]) -> list[tuple[int, float]]:
        """Assign each text a stable topic id and a confidence (``(-1, 0.0)`` for outliers)."""
        if self.state is None:
            raise TopicModelError("transform() before fit() or load()")
        if not texts:
            return []
        return assign_topics(self.state, texts)

    def topics_over_time(self, freq: str = "D", tz: str = "Asia/Shanghai") -> pd.DataFrame:
        """Counts per topic per time bucket over the fitted window (see :func:`topics_over_time`)."""
        if self.state is None:
            raise TopicModelError("topics_over_time() before fit() or load()")
        labels = {t: i.label for t, i in self.state.topics.items()}
        return topics_over_time(self.state.doc_topics, self.state.timestamps, freq=freq, labels=labels, tz=tz)

    def save(self, path: str | Path) -> Path:
        """Save the current state to directory ``path``."""
        if self.state is None:
            raise TopicModelError("nothing to save: fit() first")
        return self.state.save(path)

    @classmethod
    def load(cls, path: str | Path) -> TopicModeler:
        """Build a modeler from a saved state directory."""
        return cls(state=TopicModelState.load(path))


def topics_over_time(
    topic_ids: Sequence[int],
    timestamps: Sequence[Any],
    freq: str = "D",
    labels: dict[int, str] | None = None,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """Count documents per topic per time bucket, for the dashboard's stacked charts.

    Args:
        topic_ids: stable topic id of each document (``-1`` for outliers).
        timestamps: datetime-like of each document (naive ones are taken as UTC); documents
            without one are skipped.
        freq: ``h``/``min``/``s``, or a pandas period alias (``D``, ``W`` weeks from Monday, ``M``).
        labels: stable id -> label; outliers are labelled ``其他``.
        tz: time zone whose calendar the buckets follow (days start at local midnight).

    Returns:
        DataFrame with columns ``bucket`` (bucket start, tz-aware in ``tz``), ``topic_id``,
        ``label``, ``count``, sorted by bucket then topic id.
    """
    if len(topic_ids) != len(timestamps):
        raise ValueError(f"{len(topic_ids)} topic ids but {len(timestamps)} timestamps")
    columns = ["bucket", "topic_id", "label", "count"]
    stamps = pd.Series(pd.to_datetime(list(timestamps), utc=True))
    frame = pd.DataFrame({"topic_id": list(topic_ids), "ts": stamps}).dropna(subset=["ts"])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    local = frame["ts"].dt.tz_convert(tz).dt.tz_localize(None)
    # sub-daily buckets floor the clock; calendar buckets (D, W = weeks from Monday, M) use periods
    bucket = local.dt.floor(freq) if freq in {"h", "min", "s"} else local.dt.to_period(freq).dt.start_time
    frame["bucket"] = bucket.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    counts = frame.groupby(["bucket", "topic_id"]).size().rename("count").reset_index()
    labels = labels or {}
    counts["label"] = [
        labels.get(t, OUTLIER_LABEL) if t != OUTLIER_TOPIC else OUTLIER_LABEL for t in counts["topic_id"]
    ]
    return counts.sort_values(["bucket", "topic_id"]).reset_index(drop=True)[columns]


def evaluate_topics(
    texts: Sequence[str], labels: Sequence[Any], config: TopicModelConfig | None = None
) -> dict[str, Any]:
    """Fit topics on labelled texts and score them against the labels.

    Outliers count as one more cluster, so a model that leaves many outliers is penalised.

    Returns:
        ``{"nmi", "ari", "n", "n_topics", "outlier_ratio", "seconds"}``.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    pairs = [(t, str(lab)) for t, lab in zip(texts, labels, strict=True) if isinstance(t, str) and t.strip()]
    cfg = replace(config or TopicModelConfig(), max_docs=max(len(pairs), 1))
    start = time.perf_counter()
    state = TopicModeler(cfg).fit([t for t, _ in pairs])
    seconds = time.perf_counter() - start
    gold = [lab for _, lab in pairs]
    pred = state.doc_topics if state.doc_topics else []
    return {
        "nmi": round(float(normalized_mutual_info_score(gold, pred)), 4) if pred else 0.0,
        "ari": round(float(adjusted_rand_score(gold, pred)), 4) if pred else 0.0,
        "n": len(pairs),
        "n_topics": len(state.topics),
        "outlier_ratio": round(pred.count(OUTLIER_TOPIC) / max(1, len(pred)), 4),
        "seconds": round(seconds, 2),
    }


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


def load_current_state(root: str | Path) -> TopicModelState | None:
    """Load the state ``root/CURRENT`` points at, or ``None`` when no refit has run yet."""
    pointer = Path(root) / CURRENT_FILE
    if not pointer.is_file():
        return None
    return TopicModelState.load(Path(root) / pointer.read_text(encoding="utf-8").strip())


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


class StateTopicAssigner:
    """Assigns stable topic ids from the latest saved refit; reloads when a refit lands.

    Implements ``nlp.pipeline.TopicAssigner``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._pointer: str | None = None
        self._modeler: TopicModeler | None = None

    def _refresh(self) -> None:
        pointer_file = self.root / CURRENT_FILE
        pointer = pointer_file.read_text(encoding="utf-8").strip() if pointer_file.is_file() else None
        if pointer != self._pointer:
            state = load_current_state(self.root) if pointer else None
            self._modeler = TopicModeler(state=state) if state else None
            self._pointer = pointer
            logger.info("topic state loaded: %s", pointer)

    @property
    def version(self) -> str:
        """Name of the refit in use (``none`` before the first refit)."""
        self._refresh()
        return f"topics-{self._pointer or 'none'}"

    def assign(self, texts: Sequence[str]) -> list[tuple[int, float]]:
        """Stable topic id and confidence per text; all outliers before the first refit."""
        self._refresh()
        if self._modeler is None:
            return [(OUTLIER_TOPIC, 0.0)] * len(texts)
        return self._modeler.transform(texts)


def load_topic_assigner(settings: Any) -> StateTopicAssigner:
    """Return the worker's topic assigner reading ``<app.data_dir>/topics`` (see :func:`save_current_state`)."""
    return StateTopicAssigner(topic_state_root(settings))
