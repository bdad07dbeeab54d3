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

Modules, so each caller loads only what it needs: ``state`` (configuration, state, persistence),
``matching`` (stable ids), ``fitting`` (the modeler; BERTopic loads when a fit runs), ``assign``
(what the NLP worker imports) and ``evaluate``.
"""
