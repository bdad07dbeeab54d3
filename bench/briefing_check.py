"""How well the briefing verifier catches wrong figures, and how rarely it removes right ones.

A small store is seeded here (two weeks of masked documents, tagged, with topics and rollups,
written through ``storage.documents.write_documents``), the week's facts are built exactly as a
briefing builds them (``reports.briefing_facts``), and correct sentences are written from every
figure of every fact, in the ways a model writes them: as given, rounded to fewer decimals,
percentages without decimals, counts in Chinese numerals, ranks as 第一位, 万 for large counts,
with the category, region or channel named. Each correct sentence is then corrupted the ways
models go wrong, where the sentence allows it:

* ``number``: one figure altered by 1–50 % (re-drawn until its written form changes);
* ``pct_count``: a percentage swapped with a count of the same fact (or the reverse);
* ``entity``: the category / region / channel named replaced by another of the same kind;
* ``invented_id``: the cited fact replaced by one that does not exist;
* ``foreign_doc``: a document sentence citing a document of the previous week;
* ``unit``: a count's unit changed (万 added, or 万 ↔ 千).

Run: ``python -m bench.briefing_check [--seed 7]``. Prints per-kind catch rates, the false-removal
rate (target ≤ 0.02) and, last, ``briefing_check_catch_rate: X`` (target ≥ 0.99).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sqlalchemy import Engine, insert  # noqa: E402

from analytics.briefing_check import check_sentence, find_entities  # noqa: E402
from analytics.figures import extract_figures  # noqa: E402
from bench import machine  # noqa: E402
from kernel import labels  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from reports.briefing import period_bounds  # noqa: E402
from reports.briefing_facts import BriefingFacts, build_facts  # noqa: E402
from reports.weekly import build_period_report  # noqa: E402
from storage import schema as s  # noqa: E402
from storage.db import make_engine, write_tx  # noqa: E402
from storage.documents import write_documents  # noqa: E402
from storage.migrate import upgrade_database  # noqa: E402
from storage.rollups.refresh import refresh_rollups  # noqa: E402

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WEEK = "2026-W47"
CHANNELS = ("social", "news", "hotline", "gov")
PROVINCES = {
    "广东省": "广州市",
    "北京市": "北京市",
    "浙江省": "杭州市",
    "四川省": "成都市",
    "湖北省": "武汉市",
}
TOPICS = {1: ("电梯故障 维修", "小区电梯多次故障停运，物业迟迟不维修"), 2: ("夜间施工 噪音", "工地夜间施工噪音扰民"),
          3: ("公交线路 调整", "公交线路调整后站点取消，通勤不便"), 4: ("燃气 泄漏", "楼道闻到燃气味，请尽快检查"),
          5: ("学位 入学", "孩子入学学位紧张，划片政策不清楚")}  # fmt: skip
CN = "零一二三四五六七八九"


def seed_store(engine: Engine, rng: random.Random, n: int) -> list[int]:
    """Two weeks of documents before NOW; returns the ids published in the week before W47."""
    with write_tx(engine) as conn:
        for ch in CHANNELS:
            conn.execute(
                insert(s.sources).values(
                    name=f"{ch}_sim", kind="demo", channel=ch, cursor={}, created_at=NOW, updated_at=NOW
                )
            )
        ids = {r.name: r.id for r in conn.execute(s.sources.select())}
    rows = []
    for i in range(n):
        ch, topic = rng.choice(CHANNELS), rng.choice([1, 1, 1, 2, 2, 3, 4, 5])
        province = rng.choice(list(PROVINCES))
        published = NOW - timedelta(seconds=rng.uniform(120, 14 * 86400 - 120))
        rows.append((ch, topic, province, published.replace(microsecond=0), i))
    doc_ids: dict[str, int] = {}
    for ch in CHANNELS:
        values = [
            {"channel": c, "external_id": f"b-{i}", "url": f"https://example.invalid/{i}", "title": TOPICS[t][1][:8],
             "content": f"市民张**（电话138****{i % 10000:04d}）反映：{PROVINCES[p]}{TOPICS[t][1]}。", "published_at": at,
             "fetched_at": NOW, "likes": rng.randrange(200), "reposts": rng.randrange(50), "comments": rng.randrange(80),
             "reads": rng.randrange(5000), "content_hash": f"h-{i}", "dup_of": None, "simulated": True}
            for c, t, p, at, i in rows if c == ch
        ]  # fmt: skip
        doc_ids |= write_documents(engine, ids[f"{ch}_sim"], values)
    sentiments = ("negative", "neutral", "positive")
    with write_tx(engine) as conn:
        for tid, (label, _) in TOPICS.items():
            conn.execute(
                insert(s.topics).values(
                    id=tid, label=label, terms=label.split(), size=n // 5, first_seen=NOW - timedelta(days=20),
                    last_seen=NOW, model_version="bench-1", active=True,
                )
            )  # fmt: skip
        conn.execute(
            insert(s.doc_tags),
            [
                {"document_id": doc_ids[f"b-{i}"], "published_at": at, "channel": c,
                 "sentiment": (sent := rng.choices(sentiments, (0.4, 0.35, 0.25))[0]), "sentiment_score": 0.9,
                 "emotion": "angry" if sent == "negative" else "neutral", "emotion_score": 0.8,
                 "category": rng.choice(labels.CATEGORY_CODES[:5]), "category_score": 0.85, "province": p,
                 "city": PROVINCES[p], "district": None, "keywords": TOPICS[t][0].split(), "topic_id": t,
                 "topic_score": 0.7, "pipeline_version": "bench-1", "model_versions": {}, "tagged_at": at}
                for c, t, p, at, i in rows
            ],
        )  # fmt: skip
    refresh_rollups(engine, full=True)
    _, _, start, _ = period_bounds("weekly", WEEK, NOW, "Asia/Shanghai")
    return [doc_ids[f"b-{i}"] for _, _, _, at, i in rows if start - timedelta(days=7) <= at < start]


def _cn_int(n: int) -> str:
    if n < 10:
        return CN[n]
    if n < 20:
        return "十" + (CN[n % 10] if n % 10 else "")
    if n < 100:
        return CN[n // 10] + "十" + (CN[n % 10] if n % 10 else "")
    return str(n)


def variants(value: str, rng: random.Random) -> str:
    """The figure ``value`` (as a fact writes it) the way a model might write it."""
    m = re.fullmatch(r"([+-]?)([\d,]+(?:\.\d+)?)\s*(.*)", value)
    if m is None:
        return value
    sign, num, unit = m[1], float(m[2].replace(",", "")), m[3]
    choice = rng.random()
    if unit == "%":
        return (
            f"{abs(num):.1f}%"
            if choice < 0.5
            else (f"{abs(num):.0f}%" if choice < 0.7 else f"{abs(num):.2f}%")
        )
    if unit == "条" and num.is_integer():
        if num >= 10_000 and choice < 0.5:
            return f"{num / 10_000:.1f}万条"
        if 2 <= num < 100 and choice < 0.3:
            return f"{_cn_int(int(num))}条"
        return f"{int(num):,} 条" if choice < 0.5 else f"{int(num)}条"
    if unit in ("分", "个百分点", "小时", "天", "倍") and not num.is_integer():
        return f"{abs(num):.1f} {unit}" if choice < 0.5 else f"{abs(num):.2f} {unit}"
    return f"{sign if choice < 0.3 else ''}{m[2]} {unit}".strip()


def correct_sentences(facts: BriefingFacts, rng: random.Random) -> list[str]:
    """Sentences a careful model writes: one per figure of every fact, citing that fact."""
    out = []
    for fid, text in list(facts.facts.items())[1:]:
        head, _, body = text.rstrip("。").partition("：")
        subject = head.split("·", 1)[-1]
        rank = re.search(r"第(\d+)位", subject)
        if rank:
            subject = subject.replace(
                rank[0], f"排名第{_cn_int(int(rank[1])) if rng.random() < 0.5 else rank[1]}位"
            )
        for part in body.split("；"):
            label, _, value = part.partition(" ")
            if not label or value == "无" or not extract_figures(value):
                continue
            said = variants(value, rng) if not value.startswith("第") else value
            out.append(f"{subject}的{label.strip()}为{said}[{fid}]。")
    for did, text in facts.documents.items():
        out.append(f"有市民反映：{text.rsplit('：', 1)[-1][:20]}[D{did}]。")
    return out


def _alter(fig_text: str, rng: random.Random) -> str | None:
    m = re.search(r"\d[\d,]*(?:\.\d+)?", fig_text)
    if m is None:
        return None
    raw = m[0].replace(",", "")
    decimals = len(raw.partition(".")[2])
    value = float(raw)
    for _ in range(20):
        factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.01, 0.5)
        new = f"{value * factor:.{decimals}f}"
        if float(new) != value and new != raw and float(new) >= 0:
            return fig_text[: m.start()] + new + fig_text[m.end() :]
    return None


def corrupt(
    sentence: str, kind: str, facts: BriefingFacts, foreign: list[int], rng: random.Random
) -> str | None:
    """``sentence`` corrupted one way, or None when that way does not apply to it."""
    cited = re.findall(r"\[([FD]\d+)\]", sentence)
    figs = [f for f in extract_figures(sentence) if f.unit not in ("date", "week", "year")]
    if kind == "number":
        candidates = [f for f in figs if f.unit != "rank" and re.search(r"\d", f.text)]
        if not candidates:
            return None
        fig = rng.choice(candidates)
        new = _alter(fig.text, rng)
        return None if new is None else sentence.replace(fig.text, new, 1)
    if kind == "pct_count":
        fact = facts.facts.get(cited[0], "") if cited else ""
        pcts = re.findall(r"(\d+(?:\.\d+)?)%", fact)
        counts = re.findall(r"(\d[\d,]*) 条", fact)
        for fig in figs:
            if fig.unit == "pct" and counts:
                swapped = rng.choice(counts).replace(",", "")
                if float(swapped) != fig.value:
                    return sentence.replace(fig.text, f"{swapped}%", 1)
            if fig.unit == "count" and pcts and re.search(r"\d", fig.text):
                swapped = rng.choice(pcts)
                if float(swapped) != fig.value:
                    return sentence.replace(fig.text, f"{swapped} 条", 1)
        return None
    if kind == "entity":
        names = find_entities(sentence.split("[")[0], facts.entities)
        if not names:
            return None
        name = names[0]
        groups = [set(labels.CATEGORY_CODES), set(PROVINCES), set(labels.CHANNELS.values())]
        same = next((g for g in groups if name in g), set())
        others = sorted(same - {name} - set(names))
        return sentence.replace(name, rng.choice(others), 1) if others else None
    if kind == "invented_id":
        if not cited or not cited[0].startswith("F"):
            return None
        fake = f"F{len(facts.facts) + rng.randint(1, 500)}"
        return sentence.replace(f"[{cited[0]}]", f"[{fake}]")
    if kind == "foreign_doc":
        if not cited or not cited[0].startswith("D"):
            return None
        return sentence.replace(f"[{cited[0]}]", f"[D{rng.choice(foreign)}]")
    if kind == "unit":
        counts = [f for f in figs if f.unit == "count" and f.value and re.search(r"\d", f.text)]
        if not counts:  # 0 万条 is still 0: no corruption
            return None
        fig = rng.choice(counts)
        if "万" in fig.text:
            return sentence.replace(fig.text, fig.text.replace("万", "千"), 1)
        scale = rng.choice(("万", "千"))
        return sentence.replace(fig.text, re.sub(r"(\d)\s*(条)", rf"\1{scale}\2", fig.text), 1)
    raise ValueError(kind)


KINDS = ("number", "pct_count", "entity", "invented_id", "foreign_doc", "unit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="sentence sets drawn (different wordings)")
    args = parser.parse_args()
    print(machine.describe())
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade_database(engine)
        foreign = seed_store(engine, rng, args.docs)
        settings = Settings()
        label, prev, start, end = period_bounds("weekly", WEEK, NOW, settings.app.timezone)
        facts = build_facts(build_period_report(engine, settings, start, end, label, prev), "weekly")
        engine.dispose()
    print(f"store: {args.docs} documents; {WEEK}: {len(facts.facts)} facts, {len(facts.documents)} documents")

    def passes(sentence: str) -> tuple[bool, str]:
        r = check_sentence("", sentence, facts.facts, facts.documents, facts.entities, facts.period_fact)
        return r.ok, r.reason

    correct = removed = 0
    caught: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    misses: list[str] = []
    false_removals: list[str] = []
    started = time.process_time()
    for _ in range(args.rounds):
        for sentence in correct_sentences(facts, rng):
            correct += 1
            ok, reason = passes(sentence)
            if not ok:
                removed += 1
                false_removals.append(f"{sentence}  <- {reason}")
            for kind in KINDS:
                bad = corrupt(sentence, kind, facts, foreign, rng)
                if bad is None or bad == sentence:
                    continue
                tried[kind] += 1
                if passes(bad)[0]:
                    misses.append(f"{kind}: {bad}")
                else:
                    caught[kind] += 1
    elapsed = time.process_time() - started
    checks = correct + sum(tried.values())
    print(f"verifier speed: {checks / elapsed:,.0f} sentences/s (CPU, one core)")
    for kind in KINDS:
        print(
            f"  {kind:12s} caught {caught[kind]:5d} / {tried[kind]:5d} = {caught[kind] / max(tried[kind], 1):.4f}"
        )
    for line in misses[:10]:
        print(f"  MISS {line}")
    for line in false_removals[:10]:
        print(f"  FALSE REMOVAL {line}")
    print(f"correct sentences: {correct}, wrongly removed {removed}")
    print(f"briefing_false_removal_rate: {removed / max(correct, 1):.4f} (target <= 0.02)")
    print(f"corrupted sentences: {sum(tried.values())} (target catch rate >= 0.99)")
    print(f"briefing_check_catch_rate: {sum(caught.values()) / max(sum(tried.values()), 1):.4f}")


if __name__ == "__main__":
    main()
