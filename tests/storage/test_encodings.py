"""The encoder tier's backlog and writes: priority classes, alert scopes, counts, concurrent claims,
passed-over documents, and claims that read only the backlog's own indexes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from storage import schema as s
from storage.db import make_engine, write_tx
from storage.encoder_backlog import (
    AlertScope,
    Priority,
    claim_encoder_backlog,
    count_encoder_backlog,
    open_alert_scopes,
)
from storage.encodings import (
    TIER_COLUMNS,
    overlay_encoder_tags,
    pass_over,
    reopen_encoding,
    store_encodings,
)
from storage.migrate import upgrade_database
from storage.store import Store
from tests.storage.test_query_plans import executed_plans

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
V1, V2 = "e1-aaaa", "e1-bbbb"
SERIAL = itertools.count()


def seed(engine: Engine, specs: list[dict[str, Any]]) -> list[int]:
    """Documents with fast-tier tag rows; each spec: channel, age (hours), optional topic, category,
    province, failed, archived. Returns ids in spec order."""
    store = Store(engine)
    ids = []
    for spec in specs:
        n = next(SERIAL)
        channel = spec["channel"]
        sid = store.ensure_source(f"src_{channel}", "rss", channel)
        row = {
            "external_id": f"x{n}",
            "channel": channel,
            "content": f"文本 {n}",
            "published_at": NOW - timedelta(hours=spec["age"]),
            "content_hash": f"h{n}",
        }
        ids += store.write_documents(sid, [row]).new_ids
    with write_tx(engine) as conn:
        rows = []
        for i, spec in zip(ids, specs, strict=True):
            failed = spec.get("failed", False)
            rows.append(
                {
                    "document_id": i,
                    "published_at": NOW - timedelta(hours=spec["age"]),
                    "channel": spec["channel"],
                    "sentiment": None if failed else "neutral",
                    "category": spec.get("category", "城乡建设"),
                    "province": spec.get("province", ""),
                    "topic_id": spec.get("topic"),
                    "pipeline_version": "fast-1",
                    "model_versions": {"failed": "ValueError: x"} if failed else {"sentiment": "s1"},
                    "tagged_at": NOW,
                    "tier": "fastonly" if failed else "fast",
                }  # fmt: skip
            )
        conn.execute(s.doc_tags.insert(), rows)
        if any(spec.get("archived") for spec in specs):
            archived = [i for i, spec in zip(ids, specs, strict=True) if spec.get("archived")]
            conn.execute(s.documents.update().where(s.documents.c.id.in_(archived)).values(archived=True))
    return ids


def result(doc_id: int, sentiment: str = "negative") -> dict[str, Any]:
    return {
        "document_id": doc_id,
        "embedding": bytes([1] * 384),
        "sentiment": sentiment,
        "sentiment_score": 0.8,
        "emotion": "angry",
        "emotion_score": 0.7,
        "category": "环境保护",
        "category_score": 0.6,
    }


def drain(
    engine: Engine, version: str, limit: int, priority: Priority | None
) -> list[tuple[str | None, list[int]]]:
    """Claim and store until nothing is left: (class, ids) per claim."""
    out = []
    while True:
        with write_tx(engine) as conn:
            claim = claim_encoder_backlog(conn, engine, version, limit, priority)
            if not claim:
                return out
            docs = {r.id: r for r in claim.rows}
            store_encodings(engine, conn, docs, [result(i) for i in docs], version, NOW)
        out.append((claim.klass, [r.id for r in claim.rows]))


def test_claims_go_by_priority_class_newest_first(engine: Engine) -> None:
    ids = seed(
        engine,
        [
            {"channel": "social", "age": 1},  # 0 rest
            {"channel": "hotline", "age": 30},  # 1 priority
            {"channel": "social", "age": 2, "topic": 7},  # 2 hot topic
            {"channel": "gov", "age": 3},  # 3 priority
            {"channel": "news", "age": 4, "category": "环境保护"},  # 4 in the category alert's window
            {"channel": "news", "age": 50, "category": "环境保护"},  # 5 before the alert began: rest
            {"channel": "social", "age": 24 * 8, "topic": 7},  # 6 hot topic, but before the heat period: rest
            {"channel": "social", "age": 5, "failed": True},  # 7 the fast tier failed: never
            {"channel": "social", "age": 6},  # 8 rest
            {"channel": "hotline", "age": 2, "topic": 7},  # 9 priority (channel first)
        ],
    )
    priority = Priority(
        channels=("hotline", "gov"),
        topic_ids=(7,),
        topics_since=NOW - timedelta(days=7),
        alerts=(AlertScope("category", "环境保护", NOW - timedelta(hours=10)),),
    )
    counted = count_encoder_backlog(engine, V1, priority)
    assert (counted.total, counted.priority, counted.hot, counted.rest) == (9, 3, 2, 4)
    claims = drain(engine, V1, 2, priority)
    order = [i for _, batch in claims for i in batch]
    expected = [9, 3, 1, 2, 4, 0, 8, 5, 6]
    assert order == [ids[k] for k in expected]
    assert [k for k, _ in claims] == ["priority", "priority", "hot", "rest", "rest"]
    assert count_encoder_backlog(engine, V1, priority).total == 0
    with engine.connect() as conn:
        tags = {r.document_id: r for r in conn.execute(select(s.doc_tags))}
    assert (
        tags[ids[7]].tier == "fastonly" and tags[ids[7]].sentiment is None
    )  # a failed fast row is left alone
    done = [tags[ids[k]] for k in expected]
    assert {(t.tier, t.sentiment, t.category, t.tagged_at) for t in done} == {
        ("encoder", "negative", "环境保护", NOW)
    }


def test_a_new_version_re_encodes_priority_channels_then_the_rest_by_id(engine: Engine) -> None:
    ids = seed(
        engine,
        [{"channel": c, "age": a} for c, a in [("social", 1), ("hotline", 9), ("news", 2), ("gov", 4)]],
    )
    priority = Priority(channels=("hotline", "gov"))
    drain(engine, V1, 10, priority)
    new = seed(engine, [{"channel": "social", "age": 40}])  # not encoded at all: before every outdated one
    counted = count_encoder_backlog(engine, V2, priority)
    assert (counted.total, counted.outdated, counted.priority, counted.rest) == (5, 4, 2, 3)
    assert count_encoder_backlog(engine, V1, priority).total == 1
    claims = drain(engine, V2, 1, priority)
    assert [i for _, (i,) in claims] == [ids[3], ids[1], *new, ids[2], ids[0]]
    with engine.connect() as conn:
        assert set(conn.execute(select(s.encoder_tags.c.model_version)).scalars()) == {V2}


def test_open_alert_scopes_are_read_from_what_alerts_stored(engine: Engine) -> None:
    since = NOW - timedelta(hours=3)

    def alert(key: str, status: str, evidence: dict[str, Any] | None, age: timedelta) -> dict[str, Any]:
        return {
            "rule": key.split("=")[0], "key": key, "status": status, "severity": "warning", "title": key,
            "message": key, "evidence": evidence, "first_seen": NOW - age, "last_seen": NOW,
        }  # fmt: skip

    with write_tx(engine) as conn:
        conn.execute(
            s.alerts.insert(),
            [
                alert("cat=环境保护", "open", {"dimension": "category", "dimension_value": "环境保护",
                                              "since": since.isoformat()}, timedelta(hours=5)),
                alert("region=广东省", "acknowledged", {"dimension": "region", "dimension_value": "广东省"},
                      timedelta(hours=2)),
                alert("topic=4", "open", {"dimension": "topic", "dimension_value": "4"}, timedelta(days=30)),
                alert("subject=燃气", "open", {"dimension": "subject", "dimension_value": "燃气",
                                              "subject_name": "燃气"}, timedelta(hours=1)),
                alert("keyword", "open", {"kind": "keyword", "document_ids": [5, 6]}, timedelta(hours=1)),
                alert("silent=a", "open", {"kind": "source_silence", "source": "a"}, timedelta(hours=1)),
                alert("total", "resolved", {"dimension": "total"}, timedelta(hours=1)),
            ],
        )  # fmt: skip
    scopes = {(a.dimension, a.value): a for a in open_alert_scopes(engine, NOW)}
    assert set(scopes) == {
        ("category", "环境保护"), ("region", "广东省"), ("topic", "4"), ("subject", "燃气"), ("documents", None),
    }  # fmt: skip
    assert scopes[("category", "环境保护")].since == since  # when the condition began, not first_seen
    assert scopes[("region", "广东省")].since == NOW - timedelta(hours=2)
    assert scopes[("topic", "4")].since == NOW - timedelta(days=7)  # no further back than the heat period
    assert scopes[("documents", None)].document_ids == (5, 6)


def test_subject_region_and_named_document_alerts_make_documents_hot(engine: Engine) -> None:
    ids = seed(
        engine,
        [
            {"channel": "social", "age": 1},  # 0 rest
            {"channel": "social", "age": 2},  # 1 in the subject
            {"channel": "news", "age": 3, "province": "广东省"},  # 2 region alert
            {"channel": "news", "age": 4},  # 3 named by a keyword alert
            {"channel": "social", "age": 9},  # 4 in the subject, before the alert's window: rest
        ],
    )
    with write_tx(engine) as conn:
        subject_id = conn.execute(
            s.subjects.insert().returning(s.subjects.c.id),
            [{"name": "燃气", "owner": "a", "expression": "燃气", "exclude": [], "channels": [], "sources": [],
              "regions": [], "categories": [], "subscribers": [], "active": True, "created_at": NOW,
              "updated_at": NOW}],
        ).scalar_one()  # fmt: skip
        conn.execute(
            s.subject_documents.insert(),
            [
                {"subject_id": subject_id, "document_id": ids[k], "published_at": NOW - timedelta(hours=h),
                 "matched_at": NOW}
                for k, h in ((1, 2), (4, 9))
            ],
        )  # fmt: skip
    since = NOW - timedelta(hours=6)
    priority = Priority(
        alerts=(
            AlertScope("subject", "燃气", since),
            AlertScope("region", "广东省", since),
            AlertScope("documents", None, since, (ids[3],)),
        )
    )
    assert count_encoder_backlog(engine, V1, priority).hot == 3
    claims = drain(engine, V1, 10, priority)
    assert claims == [("hot", [ids[1], ids[2], ids[3]]), ("rest", [ids[0], ids[4]])]


def test_passed_over_documents_keep_fast_labels_until_retried(engine: Engine) -> None:
    ids = seed(engine, [{"channel": "social", "age": 1}, {"channel": "social", "age": 2, "archived": True}])
    with write_tx(engine) as conn:
        claim = claim_encoder_backlog(conn, engine, V1, 5, None)
        docs = {r.id: r for r in claim.rows}
        assert [r.archived for r in claim.rows] == [False, True]
        store_encodings(engine, conn, docs, [result(ids[0])], V1, NOW)
        pass_over(engine, conn, docs, [ids[1]], V1, NOW)
    assert count_encoder_backlog(engine, V1).total == 0
    with engine.connect() as conn:
        tags = {r.document_id: r for r in conn.execute(select(s.doc_tags))}
        enc = {r.document_id: r for r in conn.execute(select(s.encoder_tags))}
    assert tags[ids[1]].tier == "fastonly" and tags[ids[1]].sentiment == "neutral"
    assert enc[ids[1]].sentiment is None and enc[ids[1]].embedding == bytes(384)
    # the fast tier re-tags both: encoder labels kept on one, fast labels on the passed-over one
    rows = [
        {"document_id": i, "sentiment": "positive", "category": "交通运输", "model_versions": {"s": "2"}}
        for i in ids
    ]
    with engine.connect() as conn:
        overlay_encoder_tags(conn, rows)
    assert [(r["tier"], r["sentiment"], r["category"]) for r in rows] == [
        ("encoder", "negative", "环境保护"),
        ("fastonly", "positive", "交通运输"),
    ]
    failed = [{"document_id": ids[0], "model_versions": {"failed": "x"}, "sentiment": None}]
    with engine.connect() as conn:
        overlay_encoder_tags(conn, failed)
    assert failed[0]["tier"] == "fastonly" and failed[0]["sentiment"] is None
    reopen_encoding(engine, ids[1])
    assert count_encoder_backlog(engine, V1).total == 1
    reopen_encoding(engine, ids[0])  # an encoded document is not re-opened
    assert count_encoder_backlog(engine, V1).total == 1
    assert set(TIER_COLUMNS) <= set(result(0))


@pytest.mark.postgres
def test_concurrent_claims_take_different_documents_of_the_same_class(pg_engine: Engine) -> None:
    engine = pg_engine
    ids = seed(
        engine, [{"channel": "hotline", "age": h} for h in range(1, 40)] + [{"channel": "social", "age": 0}]
    )
    priority = Priority(channels=("hotline",))
    held = []
    conns = []
    try:
        for _ in range(12):  # twelve workers, each holding its batch of three
            conn = engine.connect()
            conn.begin()
            conns.append(conn)
            claim = claim_encoder_backlog(conn, engine, V1, 3, priority)
            assert claim.klass == "priority", "a worker fell through to the next class too early"
            held.append([r.id for r in claim.rows])
        taken = [i for batch in held for i in batch]
        assert len(taken) == len(set(taken)) == 36
        assert taken == ids[:36]  # newest first: the first worker took the three newest
        last = engine.connect()
        conns.append(last)
        last.begin()
        claim = claim_encoder_backlog(last, engine, V1, 5, priority)
        assert (claim.klass, [r.id for r in claim.rows]) == ("priority", ids[36:39])
    finally:
        for conn in conns:
            conn.rollback()
            conn.close()


def test_claims_read_only_the_backlog_indexes(tmp_path: Path) -> None:
    """No claim or count scans doc_tags, documents or encoder_tags: each reads a partial index of the
    pending rows, an alert's window, one old version in encoder_tags, or looks rows up by id."""
    engine = make_engine(f"sqlite:///{tmp_path}/plan.db")
    upgrade_database(engine)
    seed(engine, [{"channel": "hotline", "age": 1, "topic": 3}, {"channel": "social", "age": 2}])
    priority = Priority(
        channels=("hotline", "gov"),
        topic_ids=(3, 4),
        topics_since=NOW - timedelta(days=7),
        alerts=(AlertScope("category", "环境保护", NOW - timedelta(hours=4)),),
    )

    def claim_all() -> None:
        drain(engine, V1, 1, priority)
        drain(engine, V2, 1, priority)  # outdated rows: the old version's index
        count_encoder_backlog(engine, V2, priority)

    plans = executed_plans(engine, claim_all)
    assert plans
    for plan in plans:
        for line in plan:
            if line.startswith("SCAN") and any(t in line for t in ("doc_tags", "documents", "encoder_tags")):
                assert "INDEX ix_doc_tags_encoder_pending" in line, plan  # walks the backlog alone
            if line.startswith("SEARCH doc_tags USING INDEX"):  # the backlog, or an alert's window
                assert "ix_doc_tags_encoder_pending" in line or "published_at>" in line, plan
    used = {line.split(" USING ")[1].split(" (")[0] for plan in plans for line in plan if " USING " in line}
    assert {
        "INDEX ix_doc_tags_encoder_pending_published_at",
        "INDEX ix_doc_tags_encoder_pending_channel_published_at",
        "INDEX ix_doc_tags_encoder_pending_topic_id_published_at",
        "COVERING INDEX ix_encoder_tags_model_version_channel_document_id",
    } <= used, used
    engine.dispose()


@pytest.mark.postgres
def test_postgres_walks_a_channel_backlog_index_even_on_stale_statistics(pg_engine: Engine) -> None:
    """Statistics taken while half the store was pending hotline messages, then the hotline backlog
    done: the claim must still read the channel's own index (a few rows), not walk every pending
    row filtering on the channel (what PostgreSQL chose for ``channel = 'hotline'``)."""
    engine = pg_engine
    from sqlalchemy import text

    from storage.encoder_backlog import claim_steps

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (id, name, kind, channel, cursor, created_at, updated_at) "
                          "VALUES (1, 's', 'rss', 'social', '{}', now(), now())"))  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO documents (id, source_id, channel, external_id, content, published_at, fetched_at,"
                " content_hash, likes, reposts, comments, reads, dup_count, simulated, archived)"
                " SELECT i, 1, CASE WHEN i % 2 = 0 THEN 'hotline' ELSE 'social' END, 'e' || i, 't', "
                " timestamp '2026-11-20' - i * interval '1 minute', now(), 'h' || i, 0, 0, 0, 0, 0, false, false"
                " FROM generate_series(1, 20000) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO doc_tags (document_id, published_at, channel, pipeline_version, model_versions,"
                " tagged_at, tier) SELECT id, published_at, channel, 'f', '{}'::jsonb, now(), 'fast' FROM documents"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE doc_tags"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE doc_tags SET tier = 'encoder' WHERE channel = 'hotline'"))
    with engine.connect() as conn:
        steps = claim_steps(conn, V1, Priority(channels=("hotline", "gov")))
        query = steps[0].candidates(128)
        assert steps[0].name == "priority" and query is not None
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).scalar_one()

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    scans = [n for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "doc_tags"]
    assert scans and all(
        n.get("Index Name") == "ix_doc_tags_encoder_pending_channel_published_at" for n in scans
    ), scans
    assert sum(n.get("Rows Removed by Filter", 0) for n in scans) < 100, scans
