"""A deterministic, realistic-looking database for tests of everything that reads the store.

``seed_database(engine, now)`` writes four sources with ingest runs, 14 days of masked documents
(some near-duplicates, a few untagged) with tags across channels, categories, provinces,
sentiments, emotions and topics, the topics, four alerts with their history, then builds the
rollups. It returns :class:`SeedFacts`: the documents as plain Python records, so tests compute
every expected number independently of the SQL under test.

The text is masked-looking (``张**``, ``138****1234``) like real stored text, and one document
carries HTML and Markdown on purpose: nothing may ever render it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from storage import schema as s
from storage.db import write_tx
from storage.documents import write_documents
from storage.rollups.refresh import refresh_rollups

SEED = 20261120
DAYS = 14
SOURCES = (("weibo_sim", "social"), ("news_sim", "news"), ("hotline_sim", "hotline"), ("gov_sim", "gov"))
CATEGORIES = ("城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "")  # '' unknown
PLACES = {
    "广东省": [("广州市", "天河区"), ("深圳市", "南山区")],
    "北京市": [("北京市", "朝阳区"), ("北京市", "海淀区")],
    "浙江省": [("杭州市", "西湖区")],
    "四川省": [("成都市", "武侯区")],
    "湖北省": [("武汉市", "洪山区")],
    "": [("", "")],
}
SENTIMENTS = (("negative", 0.4), ("neutral", 0.35), ("positive", 0.25))
EMOTIONS = {"negative": ("angry", "sad", "fear"), "neutral": ("neutral", "surprise"), "positive": ("happy",)}
TOPICS = {  # id: (label, terms, days before now first seen)
    1: ("电梯故障 维修 小区", ["电梯", "故障", "维修", "小区"], 13),
    2: ("噪音扰民 施工 夜间", ["噪音", "施工", "夜间", "扰民"], 13),
    3: ("公交线路 调整 站点", ["公交", "线路", "站点", "调整"], 12),
    4: ("燃气 泄漏 安全", ["燃气", "泄漏", "安全", "检查"], 5),
    5: ("学位 入学 划片", ["学位", "入学", "划片", "学校"], 3),
}
ISSUES = {
    1: "小区电梯多次故障停运，老人上下楼困难，物业迟迟不维修",
    2: "附近工地夜间施工噪音扰民，严重影响休息",
    3: "公交线路调整后站点取消，上班通勤不便",
    4: "楼道闻到燃气味疑似燃气泄漏，请尽快派人检查",
    5: "孩子入学学位紧张，划片政策不清楚",
    -1: "反映情况，希望相关部门关注处理",
}
HTML_CONTENT = "<script>alert('x')</script><b>注入</b> **加粗** [链接](http://example.invalid) 井盖缺失"
UNTAGGED = 6
N_FIRST = 420  # first copies; about a tenth more are near-duplicate copies


@dataclass(frozen=True)
class SeedDoc:
    """One seeded document with its tags (``tagged`` False: no doc_tags row)."""

    id: int
    source: str
    channel: str
    published_at: datetime
    title: str
    content: str
    category: str
    province: str
    city: str
    district: str
    sentiment: str
    emotion: str
    topic_id: int
    dup_of: int | None
    likes: int
    reposts: int
    comments: int
    reads: int
    tagged: bool = True


@dataclass
class SeedFacts:
    """What was seeded, with helpers computing expected figures in plain Python."""

    now: datetime
    docs: list[SeedDoc]
    topics: dict[int, dict[str, Any]]
    alerts: list[dict[str, Any]]
    sources: dict[str, str] = field(default_factory=dict)  # name -> channel

    @property
    def untagged(self) -> int:
        return sum(1 for d in self.docs if not d.tagged)

    def period(self, days: float) -> tuple[datetime, datetime]:
        """The dashboard's "last N days": ends at the end of the current hour."""
        return self.periods(days, self.now, self.now)[0]

    @staticmethod
    def periods(days: float, first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
        """Every "last N days" a dashboard on the real clock may have shown between ``first`` and
        ``last``: one, or two when an hour turned in between."""
        hour = first.replace(minute=0, second=0, microsecond=0)
        out = []
        while hour <= last:
            hour += timedelta(hours=1)
            out.append((hour - timedelta(days=days), hour))
        return out

    def select(
        self, start: datetime, end: datetime, *, tagged_only: bool = True, **where: Any
    ) -> list[SeedDoc]:
        """Documents published in [start, end) whose fields equal (or are in, for tuples) ``where``."""
        out = []
        for d in self.docs:
            if not (start <= d.published_at < end) or (tagged_only and not d.tagged):
                continue
            ok = all(
                getattr(d, k) in v if isinstance(v, tuple) else getattr(d, k) == v for k, v in where.items()
            )
            if ok:
                out.append(d)
        return out

    def volume(self, start: datetime, end: datetime, **where: Any) -> int:
        return len(self.select(start, end, **where))

    def negative_share(self, start: datetime, end: datetime, **where: Any) -> float:
        docs = self.select(start, end, **where)
        return sum(d.sentiment == "negative" for d in docs) / len(docs)

    def counts(self, attr: str, start: datetime, end: datetime, **where: Any) -> Counter[Any]:
        return Counter(getattr(d, attr) for d in self.select(start, end, **where))

    def new_topics(self, start: datetime, end: datetime) -> int:
        present = {d.topic_id for d in self.select(start, end)}
        return sum(1 for tid, t in self.topics.items() if start <= t["first_seen"] < end and tid in present)

    @property
    def open_alerts(self) -> int:
        return sum(1 for a in self.alerts if a["status"] != "resolved")

    def containing(
        self, text: str, start: datetime, end: datetime, *, tagged_only: bool = False
    ) -> list[SeedDoc]:
        return [
            d
            for d in self.select(start, end, tagged_only=tagged_only)
            if text in d.content or text in d.title
        ]


def _pick_weighted(rng: random.Random, pairs: Iterable[tuple[str, float]]) -> str:
    items = list(pairs)
    return rng.choices([p for p, _ in items], weights=[w for _, w in items])[0]


def _make_docs(rng: random.Random, now: datetime, source_ids: dict[str, int]) -> list[dict[str, Any]]:
    docs = []
    horizon = DAYS * 24 * 3600 - 120
    for i in range(N_FIRST + UNTAGGED):
        source, channel = SOURCES[rng.randrange(len(SOURCES))]
        topic = rng.choice([1, 1, 2, 3, 4, 5, -1, -1])
        age = rng.uniform(60, horizon)
        if topic == 1 and rng.random() < 0.5:
            age = rng.uniform(60, 2 * 86400)  # a rising issue over the last two days
        if topic in (4, 5):
            age = min(age, (TOPICS[topic][2] - 0.1) * 86400)  # never before the topic appeared
        province = rng.choice(list(PLACES))
        city, district = rng.choice(PLACES[province])
        sentiment = _pick_weighted(rng, SENTIMENTS)
        masked = f"市民张**（电话138****{rng.randrange(10000):04d}）反映：{city or '本市'}{district}{ISSUES[topic]}。"
        content = HTML_CONTENT if i == 7 else masked
        docs.append(
            {
                "source": source,
                "source_id": source_ids[source],
                "channel": channel,
                "external_id": f"seed-{i}",
                "title": f"{ISSUES[topic][:8]}（{i}）",
                "content": content,
                "published_at": (now - timedelta(seconds=age)).replace(microsecond=0),
                "category": rng.choice(CATEGORIES),
                "province": province,
                "city": city,
                "district": district,
                "sentiment": sentiment,
                "emotion": rng.choice(EMOTIONS[sentiment]),
                "topic_id": topic,
                "likes": rng.randrange(0, 200),
                "reposts": rng.randrange(0, 50),
                "comments": rng.randrange(0, 80),
                "reads": rng.randrange(0, 5000),
                "tagged": i < N_FIRST,
                "dup_of": None,
            }
        )
    return docs


def _insert_documents(engine: Engine, rows: list[dict[str, Any]], now: datetime) -> list[int]:
    """Store the rows through the one document write path; returns their ids in row order."""
    values = [
        {
            "source_id": r["source_id"], "channel": r["channel"], "external_id": r["external_id"],
            "url": f"https://example.invalid/{r['external_id']}", "title": r["title"], "content": r["content"],
            "published_at": r["published_at"], "fetched_at": now, "likes": r["likes"], "reposts": r["reposts"],
            "comments": r["comments"], "reads": r["reads"], "content_hash": f"h-{r['external_id']}",
            "dup_of": r["dup_of"], "simulated": True,
        }
        for r in rows
    ]  # fmt: skip
    ids: dict[str, int] = {}
    for source_id in sorted({v["source_id"] for v in values}):
        ids |= write_documents(engine, source_id, [v for v in values if v["source_id"] == source_id])
    return [ids[v["external_id"]] for v in values]


def seed_database(engine: Engine, now: datetime) -> SeedFacts:
    """Fill an empty, migrated database deterministically (same ``now``, same data) and build rollups."""
    rng = random.Random(SEED)
    with write_tx(engine) as conn:
        for name, channel in SOURCES:
            conn.execute(
                insert(s.sources).values(
                    name=name,
                    kind="demo",
                    channel=channel,
                    cursor={},
                    created_at=now - timedelta(days=30),
                    updated_at=now,
                )
            )
        source_ids = {
            n: i
            for n, i in conn.execute(s.sources.select().with_only_columns(s.sources.c.name, s.sources.c.id))
        }
    rows = _make_docs(rng, now, source_ids)
    first_ids = _insert_documents(engine, rows, now)
    for r, i in zip(rows, first_ids, strict=True):
        r["id"] = i
    # Near-duplicate copies of a tenth of the tagged first copies, a little later, same tags.
    copies = []
    for j, orig in enumerate(
        rng.sample([r for r in rows[:N_FIRST] if r["content"] != HTML_CONTENT], N_FIRST // 10)
    ):
        later = min(
            orig["published_at"] + timedelta(minutes=rng.randrange(1, 90)), now - timedelta(seconds=30)
        )
        copies.append(
            {**orig, "external_id": f"copy-{j}", "published_at": later, "dup_of": orig["id"], "tagged": True}
        )
    for c, i in zip(copies, _insert_documents(engine, copies, now), strict=True):
        c["id"] = i
    all_rows = rows + copies  # the write path counted each copy on its first copy's dup_count
    with write_tx(engine) as conn:
        for tid, (label, terms, days) in TOPICS.items():
            members = [r for r in all_rows if r["topic_id"] == tid and r["tagged"]]
            conn.execute(
                insert(s.topics).values(
                    id=tid, label=label, terms=terms, size=len(members), first_seen=now - timedelta(days=days),
                    last_seen=max(r["published_at"] for r in members), model_version="seed-topics-1", active=True,
                )
            )  # fmt: skip
        tags = [
            {
                "document_id": r["id"], "published_at": r["published_at"], "channel": r["channel"],
                "sentiment": r["sentiment"], "sentiment_score": 0.9, "emotion": r["emotion"], "emotion_score": 0.8,
                "category": r["category"] or None, "category_score": 0.85, "province": r["province"] or None,
                "city": r["city"] or None, "district": r["district"] or None,
                "keywords": TOPICS[r["topic_id"]][1] if r["topic_id"] > 0 else [],
                "topic_id": r["topic_id"] if r["topic_id"] > 0 else None, "topic_score": 0.7,
                "pipeline_version": "seed-1", "model_versions": {"sentiment": "seed-1"},
                "tagged_at": r["published_at"] + timedelta(seconds=5),
            }
            for r in all_rows
            if r["tagged"]
        ]  # fmt: skip
        conn.execute(insert(s.doc_tags), tags)
        _seed_runs(conn, now, source_ids)
        alerts = _seed_alerts(conn, now, [r["id"] for r in all_rows if r["topic_id"] == 4][:3])
    refresh_rollups(engine, full=True)
    docs = [
        SeedDoc(
            id=r["id"], source=r["source"], channel=r["channel"], published_at=r["published_at"], title=r["title"],
            content=r["content"], category=r["category"], province=r["province"], city=r["city"],
            district=r["district"], sentiment=r["sentiment"], emotion=r["emotion"], topic_id=r["topic_id"],
            dup_of=r["dup_of"], likes=r["likes"], reposts=r["reposts"], comments=r["comments"], reads=r["reads"],
            tagged=r["tagged"],
        )
        for r in all_rows
    ]  # fmt: skip
    topics = {
        tid: {"label": t[0], "terms": t[1], "first_seen": now - timedelta(days=t[2])}
        for tid, t in TOPICS.items()
    }
    return SeedFacts(now=now, docs=docs, topics=topics, alerts=alerts, sources=dict(SOURCES))


def _seed_runs(conn: Any, now: datetime, source_ids: dict[str, int]) -> None:
    runs = []
    for name, sid in source_ids.items():
        for k in reversed(range(3)):  # oldest first: the newest run has the highest id
            started = (
                now - timedelta(hours=6 * (k + 1))
                if name == "gov_sim"
                else now - timedelta(minutes=20 * (k + 1))
            )
            runs.append(
                {"source_id": sid, "started_at": started, "finished_at": started + timedelta(seconds=2), "status": "ok",
                 "fetched": 30 + k, "new": 10 + k, "duplicates": 20, "skipped": 0, "errors": 0, "latency_ms": 800}
            )  # fmt: skip
    news = source_ids["news_sim"]
    runs.append(
        {"source_id": news, "started_at": now - timedelta(minutes=5), "finished_at": now - timedelta(minutes=5),
         "status": "failed", "fetched": 0, "new": 0, "duplicates": 0, "skipped": 0, "errors": 1,
         "error": "HTTP 503 from feed", "latency_ms": 30000}
    )  # fmt: skip
    for r in runs:
        r.setdefault("error", None)
    conn.execute(insert(s.ingest_runs), runs)


def _seed_alerts(conn: Any, now: datetime, evidence_ids: list[int]) -> list[dict[str, Any]]:
    specs = [
        (
            "category_spike",
            "category=城乡建设",
            "open",
            "warning",
            "城乡建设类诉求激增",
            42.0,
            8.0,
            timedelta(hours=2),
        ),
        (
            "public_safety",
            "keyword=燃气泄漏",
            "open",
            "critical",
            "关键词预警：燃气泄漏",
            5.0,
            0.0,
            timedelta(minutes=30),
        ),
        (
            "volume_total",
            "total",
            "acknowledged",
            "warning",
            "总声量高于基线",
            120.0,
            60.0,
            timedelta(days=1),
        ),
        (
            "negative_share",
            "category=环境保护",
            "resolved",
            "warning",
            "环境保护负面占比升高",
            0.7,
            0.3,
            timedelta(days=3),
        ),
    ]
    out = []
    for rule, key, status, severity, title, value, baseline, age in specs:
        first = now - age
        row = {
            "rule": rule, "key": key, "status": status, "severity": severity, "title": title,
            "message": f"{title}：当前 {value:g}，基线 {baseline:g}", "evidence": {"document_ids": evidence_ids},
            "value": value, "baseline": baseline, "first_seen": first, "last_seen": first + timedelta(minutes=10),
            "acked_by": "duty1" if status != "open" else None,
            "acked_at": first + timedelta(minutes=15) if status != "open" else None,
            "resolved_by": "duty1" if status == "resolved" else None,
            "resolved_at": first + timedelta(hours=5) if status == "resolved" else None,
        }  # fmt: skip
        alert_id = int(conn.execute(insert(s.alerts).values(**row).returning(s.alerts.c.id)).scalar_one())
        events = [("fired", "system", first)]
        if row["acked_at"]:
            events.append(("acknowledged", "duty1", row["acked_at"]))
        if row["resolved_at"]:
            events.append(("resolved", "duty1", row["resolved_at"]))
        for event, actor, at in events:
            conn.execute(
                insert(s.alert_events).values(alert_id=alert_id, event=event, actor=actor, note=None, at=at)
            )
        out.append({**row, "id": alert_id})
    return out
