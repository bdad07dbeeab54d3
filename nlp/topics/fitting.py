"""Fitting topics on a window: the offline LSA embedder, BERTopic (UMAP + HDBSCAN, c-TF-IDF), the modeler.

Importing this module loads nothing heavy; BERTopic, UMAP and HDBSCAN are imported when a fit runs."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nlp.tokenize import cut_words
from nlp.topics.assign import assign_topics
from nlp.topics.matching import match_topics
from nlp.topics.state import (
    OUTLIER_LABEL,
    OUTLIER_TOPIC,
    DegenerateWindowError,
    TopicInfo,
    TopicModelConfig,
    TopicModelError,
    TopicModelState,
    doc_key,
    make_label,
)


def split_tokens(text: str) -> list[str]:
    """Tokenizer of the c-TF-IDF vectorizer: documents are pre-cut, space-joined words."""
    return text.split()


logger = logging.getLogger(__name__)


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
) -> tuple[list[str], list[pd.Timestamp | None], list[int]]:
    """Keep non-empty documents within ``window_days`` of the newest one, at most ``max_docs``.

    Returns the kept texts, their timestamps and their indices in ``texts``.
    """
    if timestamps is not None and len(timestamps) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(timestamps)} timestamps")
    stamps = [None] * len(texts) if timestamps is None else list(pd.to_datetime(list(timestamps), utc=True))
    rows = [
        (t, s, i)
        for i, (t, s) in enumerate(zip(texts, stamps, strict=True))
        if isinstance(t, str) and t.strip()
    ]
    known = [s for _, s, _ in rows if s is not None and not pd.isna(s)]
    if known:
        start = max(known) - pd.Timedelta(days=config.window_days)
        rows = [r for r in rows if r[1] is None or pd.isna(r[1]) or r[1] >= start]
        rows.sort(key=lambda r: r[1] if r[1] is not None and not pd.isna(r[1]) else start)
    rows = rows[-config.max_docs :]
    return (
        [t for t, _, _ in rows],
        [None if s is None or pd.isna(s) else s for _, s, _ in rows],
        [i for *_, i in rows],
    )


class TopicModeler:
    """Fits topics on a sliding window and assigns topics to new documents between refits.

    Args:
        config: model settings (defaults are the benchmarked ones).
        state: a previous state (e.g. :meth:`TopicModelState.load`) to continue its topic ids.
    """

    def __init__(self, config: TopicModelConfig | None = None, state: TopicModelState | None = None) -> None:
        self.config = config or (state.config if state else TopicModelConfig())
        self.state = state

    def fit(
        self,
        texts: Sequence[str],
        timestamps: Sequence[Any] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> TopicModelState:
        """Fit on the window of ``texts`` and return the new state (ids continue the previous one).

        Args:
            texts: documents (title + body); empty ones are ignored.
            timestamps: one datetime-like per text, or ``None`` to use every text.
            embeddings: one precomputed vector per text (the encoder tier's) to cluster instead of
                the LSA embedder's; new texts are still assigned in LSA space.
        """
        cfg = self.config
        docs, stamps, rows = _select_window(texts, timestamps, cfg)
        if embeddings is not None and len(embeddings) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
        given = np.asarray(embeddings, dtype=np.float64)[rows] if embeddings is not None else None
        iso = [s.isoformat() if s is not None else None for s in stamps]
        keys = [doc_key(d) for d in docs]
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        fresh = None
        if len(docs) < cfg.min_docs:
            logger.info("topic window has %d documents (< %d): not modelled", len(docs), cfg.min_docs)
        else:
            try:
                fresh = self._fit_window(docs, keys, iso, now, given)
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
        self,
        docs: list[str],
        keys: list[str],
        iso: list[str | None],
        now: str,
        given: np.ndarray | None = None,
    ) -> TopicModelState:
        cfg = self.config
        # The LSA embedder is always fitted: the worker assigns new documents with it (nearest
        # centroid in LSA space). Given encoder embeddings, the clusters are found in their space
        # (NMI 0.60 against 0.39 on THUCNews titles, bench/topics.py) and their centroids are
        # taken in LSA space, so assignment stays at n-gram speed.
        embedder, embeddings = build_embedder(cfg, len(docs), docs)
        model = _build_bertopic(cfg, len(docs), embedder)
        if given is not None:
            # On encoder embeddings HDBSCAN's "eom" selection folded TNEWS's 15 classes into 2
            # clusters (NMI 0.03); capping a cluster at a fifth of the window gave 0.27 there
            # and left THUCNews unchanged (0.60).
            model.hdbscan_model.max_cluster_size = max(len(docs) // 5, cfg.min_topic_size or 0, 50)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden.*")
            try:
                # jieba runs once per document here instead of twice inside BERTopic
                # (c-TF-IDF and representative documents)
                cut = [" ".join(cut_words(d)) for d in docs]
                topics, probs = model.fit_transform(cut, embeddings=embeddings if given is None else given)
            except ValueError as exc:
                if "empty vocabulary" in str(exc):  # every word is a stop word or too short
                    raise DegenerateWindowError("no content words for topic terms") from exc
                raise
        topics = np.asarray(topics)
        found = np.zeros(len(docs)) if probs is None else probs
        probs_arr = np.asarray(found, dtype=np.float64).reshape(-1)
        if cfg.absorb_outliers:
            # HDBSCAN leaves a quarter to a half of a window out; those as close to a topic as its
            # own members are join it (bench/topics.py: NMI +0.03 to +0.06 on encoder clusters)
            topics, cosines = absorb_outliers(embeddings if given is None else given, topics)
            probs_arr = np.where(np.isnan(cosines), probs_arr, cosines)
        sizes = pd.Series(topics).value_counts()
        infos: dict[int, TopicInfo] = {}
        for t in sorted(int(x) for x in set(topics) if x != OUTLIER_TOPIC):
            terms = [(str(w), float(s)) for w, s in (model.get_topic(t) or []) if w]
            infos[t] = TopicInfo(t, make_label(terms, cfg.label_terms), terms, int(sizes.get(t, 0)))
        probs_list = [float(p) for p in probs_arr]
        id_map = {OUTLIER_TOPIC: OUTLIER_TOPIC, **{t: t for t in infos}}
        next_id = max(infos) + 1 if infos else 0
        centroids = {t: embeddings[topics == t].mean(axis=0) for t in infos}
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


def absorb_outliers(space: np.ndarray, topics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outliers that lie as close to their nearest topic as that topic's farthest member join it.

    ``space`` holds the vectors the clusters were found in (one row per document), ``topics`` the
    clustering (``-1`` for outliers). Closeness is the cosine to the topic's mean vector, so each
    topic sets its own bar and no threshold is tuned. Returns the new topics and, for the
    documents that moved, their cosine (``nan`` elsewhere).
    """
    topics = np.asarray(topics).copy()
    cosines = np.full(len(topics), np.nan)
    ids = np.array(sorted(int(t) for t in set(topics.tolist()) if t != OUTLIER_TOPIC))
    out = np.flatnonzero(topics == OUTLIER_TOPIC)
    if not len(ids) or not len(out):
        return topics, cosines
    from sklearn.preprocessing import normalize

    unit = normalize(np.asarray(space, dtype=np.float64))
    members = [unit[topics == t] for t in ids]
    centres = normalize(np.stack([rows.mean(axis=0) for rows in members]))
    floor = np.array([(rows @ centre).min() for rows, centre in zip(members, centres, strict=True)])
    sims = unit[out] @ centres.T
    best = sims.argmax(axis=1)
    score = sims[np.arange(len(out)), best]
    moved = score >= floor[best]
    topics[out[moved]] = ids[best[moved]]
    cosines[out[moved]] = score[moved]
    return topics, cosines


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
