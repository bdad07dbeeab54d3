"""The database schema: one SQLAlchemy Core metadata for SQLite and PostgreSQL.

Tables, by area:

* ingestion: ``sources`` (with the persisted cursor), ``documents``, ``ingest_runs``, ``dead_letters``
* NLP: ``doc_tags`` (one row per document, every tag with its model version and tier),
  ``encoder_tags`` (embedding and encoder-tier tags), ``topics``,
  ``topic_counts``, ``corrections``
* analytics: ``rollups`` (hourly buckets; daily figures are sums of them)
* alerts: ``alerts``, ``alert_events``, ``silences``, ``outbox``
* operations: ``job_runs``, ``report_runs``, ``users``, ``login_throttle``, ``audit_log``, ``events``,
  ``reply_scores``
* the office's large model: ``llm_calls`` (every call), ``briefings`` (verified model-written text)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from storage.types import BigId, Json, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}
metadata = MetaData(naming_convention=NAMING)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("channel", String(16)),
    Column("cursor", Json, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("url", Text),
    Column("title", Text),
    Column("content", Text, nullable=False),  # masked, normalised
    Column("author_hash", String(64)),
    Column("published_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("region_hint", String(128)),
    Column("likes", Integer, nullable=False, default=0),
    Column("reposts", Integer, nullable=False, default=0),
    Column("comments", Integer, nullable=False, default=0),
    Column("reads", BigId, nullable=False, default=0),
    Column("content_hash", String(40), nullable=False),
    Column("dup_of", BigId, ForeignKey("documents.id", ondelete="SET NULL")),
    Column("dup_count", Integer, nullable=False, default=0),  # copies linked to this first copy
    Column("reply", Text),  # masked government reply (hotline / 问政)
    Column("replied_at", UTCDateTime),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),  # raw text dropped by retention
    Column("extra", Json),
    UniqueConstraint("source_id", "external_id"),
)
Index("ix_documents_published_at_dup_of", documents.c.published_at, documents.c.dup_of)
Index(
    "ix_documents_channel_published_at_dup_of",
    documents.c.channel,
    documents.c.published_at,
    documents.c.dup_of,
)
Index("ix_documents_source_id_published_at", documents.c.source_id, documents.c.published_at)
Index(
    "ix_documents_representative",
    documents.c.dup_count.desc(),
    (documents.c.likes + documents.c.reposts + documents.c.comments).self_group().desc(),
    documents.c.id,
)
Index("ix_documents_content_hash", documents.c.content_hash)
Index("ix_documents_dup_of", documents.c.dup_of)


def label_columns() -> list[Column[Any]]:
    """The three classifier labels with their scores: in ``doc_tags`` (the best available) and in
    ``encoder_tags`` (the encoder tier's own), which the encoder's write copies column for column."""
    return [
        Column("sentiment", String(16)),
        Column("sentiment_score", Float),
        Column("emotion", String(16)),
        Column("emotion_score", Float),
        Column("category", String(32)),
        Column("category_score", Float),
    ]


doc_tags = Table(
    "doc_tags",
    metadata,
    Column("document_id", BigId, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("published_at", UTCDateTime, nullable=False),  # copied for index-only time filters
    Column("channel", String(16), nullable=False),
    *label_columns(),
    Column("province", String(32)),
    Column("city", String(32)),
    Column("district", String(32)),
    Column("keywords", Json),
    Column("topic_id", Integer),
    Column("topic_score", Float),
    Column("pipeline_version", String(200), nullable=False),  # all model versions joined
    Column("model_versions", Json, nullable=False),  # {"sentiment": "...", ...}
    Column("tagged_at", UTCDateTime, nullable=False),
    # Which tier the sentiment / emotion / category above came from: "fast" (n-grams, every
    # document at once; the encoder tier is still to run), "encoder" (the stacked encoder models, in
    # the background; nlp.encoder_tier) or "fastonly" (the fast tier's, and the encoder tier passed
    # the document over: it failed on it alone, its text was archived, or the fast tier failed on it).
    Column("tier", String(8), nullable=False, server_default="fast"),
)
Index("ix_doc_tags_published_at", doc_tags.c.published_at)
Index("ix_doc_tags_category_published_at", doc_tags.c.category, doc_tags.c.published_at)
Index("ix_doc_tags_province_published_at", doc_tags.c.province, doc_tags.c.published_at)
Index("ix_doc_tags_topic_published_at", doc_tags.c.topic_id, doc_tags.c.published_at)
# Outdated tags are re-tagged newest first by seeking (version, id): storage.backlog.
Index("ix_doc_tags_pipeline_version_document_id", doc_tags.c.pipeline_version, doc_tags.c.document_id)
Index("ix_doc_tags_category_score", doc_tags.c.category_score)
Index("ix_doc_tags_sentiment_score", doc_tags.c.sentiment_score)  # the review queue, least sure first
Index("ix_doc_tags_emotion_score", doc_tags.c.emotion_score)
# The encoder tier's backlog (storage.encodings): only rows still waiting for it, newest first overall,
# per channel and per topic; they leave these indexes as the encoder catches up.
_ENCODER_PENDING = text("tier = 'fast'")
Index(
    "ix_doc_tags_encoder_pending_published_at",
    doc_tags.c.published_at,
    sqlite_where=_ENCODER_PENDING,
    postgresql_where=_ENCODER_PENDING,
)
Index(
    "ix_doc_tags_encoder_pending_channel_published_at",
    doc_tags.c.channel,
    doc_tags.c.published_at,
    sqlite_where=_ENCODER_PENDING,
    postgresql_where=_ENCODER_PENDING,
)
Index(
    "ix_doc_tags_encoder_pending_topic_id_published_at",
    doc_tags.c.topic_id,
    doc_tags.c.published_at,
    sqlite_where=_ENCODER_PENDING,
    postgresql_where=_ENCODER_PENDING,
)

# The encoder tier's own record per document: the stored embedding (int8, nlp.encoder.pack) and the
# stacked models' tags with their version. Its tags are copied onto doc_tags (tier "encoder"), which
# every chart, report and alert reads; this row keeps them when the fast tier re-tags a document.
encoder_tags = Table(
    "encoder_tags",
    metadata,
    Column("document_id", BigId, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("published_at", UTCDateTime, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    *label_columns(),
    Column("model_version", String(200), nullable=False),
    Column("encoded_at", UTCDateTime, nullable=False),
)
Index("ix_encoder_tags_model_version_document_id", encoder_tags.c.model_version, encoder_tags.c.document_id)
Index("ix_encoder_tags_published_at", encoder_tags.c.published_at)
# After an encoder version change, priority channels are re-encoded first (storage.encodings).
Index(
    "ix_encoder_tags_model_version_channel_document_id",
    encoder_tags.c.model_version,
    encoder_tags.c.channel,
    encoder_tags.c.document_id,
)

corrections = Table(
    "corrections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("document_id", BigId, ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    Column("field", String(16), nullable=False),  # sentiment | emotion | category
    Column("value", String(32), nullable=False),
    Column("user", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_corrections_document_id", corrections.c.document_id)

topics = Table(
    "topics",
    metadata,
    Column("id", Integer, primary_key=True),  # stable across refits
    Column("label", String(200), nullable=False),
    Column("terms", Json, nullable=False),
    Column("size", Integer, nullable=False, default=0),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

topic_counts = Table(
    "topic_counts",
    metadata,
    Column("topic_id", Integer, ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    Column("bucket", UTCDateTime, primary_key=True),
    Column("n", Integer, nullable=False),
)

rollups = Table(
    "rollups",
    metadata,
    Column("bucket", UTCDateTime, primary_key=True),  # hour, UTC
    Column("channel", String(16), primary_key=True),
    Column("source_id", Integer, primary_key=True),
    Column("category", String(32), primary_key=True),  # '' when unknown
    Column("province", String(32), primary_key=True),  # '' when unknown
    Column("topic_id", Integer, primary_key=True),  # -1 when none
    Column("sentiment", String(16), primary_key=True),
    Column("n", Integer, nullable=False),  # documents, copies included
    Column("n_unique", Integer, nullable=False),  # first copies only (events)
    Column("likes", BigId, nullable=False),
    Column("reposts", BigId, nullable=False),
    Column("comments", BigId, nullable=False),
    Column("reads", BigId, nullable=False),
)
Index("ix_rollups_category_bucket", rollups.c.category, rollups.c.bucket)
Index("ix_rollups_province_bucket", rollups.c.province, rollups.c.bucket)
Index("ix_rollups_topic_bucket", rollups.c.topic_id, rollups.c.bucket)

#: Model-tag quality per source and UTC day (storage.rollups.tag_quality): documents per label and how
#: many scored below the configured low-confidence threshold. Model tags, not corrections: it
#: watches the models. Kept in step with the hourly rollups.
tag_quality_daily = Table(
    "tag_quality_daily",
    metadata,
    Column("day", UTCDateTime, primary_key=True),
    Column("source_id", Integer, primary_key=True),
    Column("field", String(16), primary_key=True),  # sentiment | emotion | category
    Column("label", String(32), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("n_low", Integer, nullable=False),
)


def _rollup_level(name: str) -> Table:
    """A coarser rollup level (see storage.rollups.levels): one row per grouping set x bucket x kept dims."""
    return Table(
        name,
        metadata,
        Column("grouping", Integer, primary_key=True),  # grouping set id, storage.rollups.levels.GROUPINGS
        Column(
            "bucket", UTCDateTime, primary_key=True
        ),  # local midnight (of the day / 1st of the month), UTC
        Column("channel", String(16), primary_key=True),
        Column("source_id", Integer, primary_key=True),
        Column("category", String(32), primary_key=True),  # '' unknown; '*' rolled up
        Column("province", String(32), primary_key=True),
        Column("city", String(32), primary_key=True),
        Column("district", String(32), primary_key=True),
        Column("topic_id", Integer, primary_key=True),  # -1 none; -2 rolled up
        Column("sentiment", String(16), primary_key=True),
        Column("emotion", String(16), primary_key=True),
        Column("n", Integer, nullable=False),
        Column("n_unique", Integer, nullable=False),
        Column("likes", BigId, nullable=False),
        Column("reposts", BigId, nullable=False),
        Column("comments", BigId, nullable=False),
        Column("reads", BigId, nullable=False),
        sqlite_with_rowid=False,  # clustered on the key: a bucket range is read contiguously
    )


rollups_daily = _rollup_level("rollups_daily")
rollups_monthly = _rollup_level("rollups_monthly")
Index(
    "ix_rollups_daily_grouping_topic_id_bucket",
    rollups_daily.c.grouping,
    rollups_daily.c.topic_id,
    rollups_daily.c.bucket,
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # running | ok | partial | failed
    Column("fetched", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("skip_reasons", Json),
    Column("error", Text),
    Column("latency_ms", Integer),
)
Index("ix_ingest_runs_source_id_started_at", ingest_runs.c.source_id, ingest_runs.c.started_at)

# Items that could not be stored (and documents the NLP worker could not tag): one row each, with
# where to find it again. ``locator`` tells ``sensing deadletter retry`` how to re-read the item
# (a spool file, a file and row); the item's text is never kept here, only in its source.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # item | document
    Column("ref", String(300), nullable=False),  # file:row, spool segment:line, page n item m
    Column("external_id", String(255)),
    Column("document_id", BigId, ForeignKey("documents.id", ondelete="CASCADE")),
    Column("error_class", String(100), nullable=False),
    Column("message", Text, nullable=False),
    Column("locator", Json),
    Column("status", String(16), nullable=False),  # open | retried | dropped
    Column("attempts", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
)
Index("ix_dead_letters_source_id_status", dead_letters.c.source_id, dead_letters.c.status)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # running | ok | failed
    Column("counts", Json),
    Column("error", Text),
)
Index("ix_job_runs_job_started_at", job_runs.c.job, job_runs.c.started_at)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("key", String(200), nullable=False),  # the dimension value, e.g. "category=环境保护"
    Column("status", String(16), nullable=False),  # open | acknowledged | resolved
    Column("severity", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", Json),
    Column("value", Float),
    Column("baseline", Float),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("last_notified", UTCDateTime),
    Column("acked_by", String(64)),
    Column("acked_at", UTCDateTime),
    Column("resolved_by", String(64)),
    Column("resolved_at", UTCDateTime),
    Column("note", Text),
)
# One open (not resolved) alert per rule x key, on both backends.
Index(
    "uq_alerts_open_rule_key",
    alerts.c.rule,
    alerts.c.key,
    unique=True,
    sqlite_where=text("status != 'resolved'"),
    postgresql_where=text("status != 'resolved'"),
)
Index("ix_alerts_status_last_seen", alerts.c.status, alerts.c.last_seen)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),  # fired | updated | notified | acknowledged | resolved ...
    Column("actor", String(64), nullable=False),
    Column("note", Text),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_alert_events_alert_id", alert_events.c.alert_id)

# What the configured rules would have raised over history (``sensing alerts replay``): one row per
# episode of a rule x key. Apart from ``alerts`` on purpose: never notified, never in the outbox,
# never counted as a raised alert; a replay over the same period replaces the rows of its rules.
alert_replays = Table(
    "alert_replays",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", Json),
    Column("value", Float),
    Column("baseline", Float),
    Column("first_seen", UTCDateTime, nullable=False),  # the replayed evaluation time it first fired
    Column("last_seen", UTCDateTime, nullable=False),
    Column("replayed_at", UTCDateTime, nullable=False),  # when the replay ran
)
Index("ix_alert_replays_first_seen", alert_replays.c.first_seen)

silences = Table(
    "silences",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("key", String(200)),  # None: every key of the rule
    Column("until", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("note", Text),
    Column("created_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE")),
    Column("notifier", String(64), nullable=False),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sending | sent | expired
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
)
Index("ix_outbox_status_next_attempt_at", outbox.c.status, outbox.c.next_attempt_at)

report_runs = Table(
    "report_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("week", String(10), nullable=False),  # ISO week, e.g. 2026-W47
    Column("formats", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("paths", Json),
    Column("requested_by", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("display_name", String(100)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    # raised by a password reset, a role change or disabling: sessions logged in with another value end
    Column("session_epoch", Integer, nullable=False, default=0, server_default=text("0")),
)

# failed logins per account ("account", username) and per client address ("address", ip): survives
# new browser sessions and dashboard restarts
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_login_throttle_updated_at", login_throttle.c.updated_at)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200)),
    Column("detail", Json),
)
Index("ix_audit_log_at", audit_log.c.at)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # 政策出台 | 现场处置 | 官方回应
    Column("topic_id", Integer),
    Column("category", String(32)),
    Column("province", String(32)),
    Column("at", UTCDateTime, nullable=False),
    Column("note", Text),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # an event on a 专题 (declared here, before ``subjects``, by name: the table is defined below)
    Column(
        "subject_id",
        Integer,
        ForeignKey("subjects.id", ondelete="CASCADE", name="fk_events_subject_id_subjects"),
    ),
)

app_state = Table(
    "app_state",
    metadata,
    Column("key", String(100), primary_key=True),  # e.g. "rollups.watermark"
    Column("value", Json),
    Column("updated_at", UTCDateTime, nullable=False),
)

reply_scores = Table(
    "reply_scores",
    metadata,
    Column("document_id", BigId, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("total", Float, nullable=False),
    Column("components", Json, nullable=False),
    Column("delay_days", Float),
    Column("unit", String(100)),
    Column("scorer_version", String(64), nullable=False),
    Column("scored_at", UTCDateTime, nullable=False),
    # The message's time, copied so that a period's replies are read from this (small) table first.
    Column("published_at", UTCDateTime),
)
Index("ix_reply_scores_published_at", reply_scores.c.published_at)

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("called_at", UTCDateTime, nullable=False),
    Column("purpose", String(32), nullable=False),  # briefing | question
    Column("model", String(128), nullable=False),
    Column("prompt_hash", String(64), nullable=False),  # SHA-256 of messages + tools; the text is not kept
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("latency_ms", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column(
        "outcome", String(32), nullable=False
    ),  # ok | timeout | rate_limited | unavailable | refused | ...
    Column("error", Text),
)
Index("ix_llm_calls_called_at", llm_calls.c.called_at)

briefings = Table(
    "briefings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # daily | weekly
    Column("period", String(16), nullable=False),  # 2026-11-22 | 2026-W47
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # verified | fallback
    Column("text", Text, nullable=False),  # what is published
    Column("draft", Text),  # the model's text as received (None when the call failed)
    Column("facts", Json, nullable=False),  # the numbered facts and documents the model was given
    Column("verification", Json, nullable=False),  # checked figures, removed sentences with reasons
    Column("llm_call_id", BigId, ForeignKey("llm_calls.id", ondelete="SET NULL")),
)
Index("ix_briefings_kind_created_at", briefings.c.kind, briefings.c.created_at)


#: 专题: subjects analysts define by a keyword expression (the watchlist grammar) plus optional
#: exclusion words and filters (empty lists mean "all"); archived subjects stop matching.
subjects = Table(
    "subjects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("expression", Text, nullable=False),
    Column("exclude", Json, nullable=False),  # words: a document holding any of them does not match
    Column("channels", Json, nullable=False),
    Column("sources", Json, nullable=False),  # source names
    Column("regions", Json, nullable=False),  # province, city or district names
    Column("categories", Json, nullable=False),
    Column("subscribers", Json, nullable=False),  # e-mail addresses its scheduled report is sent to
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("backfilled_at", UTCDateTime),
)

#: Which documents match which subject, and when the match was recorded (backfill or tagging).
subject_documents = Table(
    "subject_documents",
    metadata,
    Column("subject_id", Integer, ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", BigId, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("published_at", UTCDateTime, nullable=False),  # copied: a subject's period is read here first
    Column("matched_at", UTCDateTime, nullable=False),
)
Index(
    "ix_subject_documents_subject_id_published_at",
    subject_documents.c.subject_id,
    subject_documents.c.published_at,
)
Index("ix_subject_documents_document_id", subject_documents.c.document_id)
