"""Nearest documents by meaning and meaning duplicates, over real e5 embeddings, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from kernel.vectors import unpack
from nlp.encoder import TextEncoder, pack, shared_encoder
from storage import schema as s
from storage.db import write_tx
from storage.similar import (
    MEANING_DUPLICATE_THRESHOLD,
    meaning_duplicates,
    similar_documents,
)

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
WATER = "小区停水三天没人管"
WATER_TOO = "我们小区已经断水三天了"
UNRELATED = [
    "市图书馆周末开放时间延长到晚上九点",
    "公交307路下月起调整线路",
    "学校食堂饭菜价格上涨学生不满",
    "春节期间烟花爆竹燃放安全提示",
    "医院挂号排队时间太长",
    "高速公路收费站节假日拥堵",
    "社区举办老年人健康知识讲座",
    "新能源汽车充电桩数量不足",
    "景区门票涨价引发游客议论",
    "今年小麦收购价格公布",
    "足球联赛周末开赛",
    "市民反映夜间广场舞噪音扰民",
]
CASE = (
    "反映锦绣花园小区停水问题：我们小区从周一开始停水，已经三天了，物业和自来水公司都没人管，"
    "老人孩子生活很不方便，请尽快处理。"
)
CASE_RETOLD = (
    "锦绣花园小区从周一起一直停水，到今天第三天了，物业和自来水公司都不管，"
    "家里老人孩子用水很不方便，请有关部门尽快处理。"
)
OTHER_CASE = "反映幸福路学校门口早晚高峰交通拥堵，接送孩子的车辆乱停乱放，希望交警部门加强疏导。"


@dataclass(frozen=True)
class Doc:
    key: str
    text: str
    channel: str = "social"
    hours_ago: float = 1
    copy_of: str | None = None  # an exact copy (documents.dup_of) of another doc
    encoded: bool = True


@pytest.fixture(scope="module")
def encoder() -> Iterator[TextEncoder]:
    yield shared_encoder()


def store(engine: Engine, encoder: TextEncoder, docs: list[Doc]) -> dict[str, int]:
    """Insert the documents and, for the encoded ones, their real packed embeddings; key -> id."""
    vectors = encoder.embed([d.text for d in docs])
    ids: dict[str, int] = {}
    with write_tx(engine) as conn:
        conn.execute(
            insert(s.sources).values(
                id=1, name="src", kind="demo", channel="social", cursor={}, created_at=NOW, updated_at=NOW
            )
        )
        for i, doc in enumerate(docs):
            when = NOW - timedelta(hours=doc.hours_ago)
            ids[doc.key] = int(
                conn.execute(
                    insert(s.documents).values(
                        source_id=1, channel=doc.channel, external_id=f"e{i}", title=None, content=doc.text,
                        published_at=when, fetched_at=NOW, content_hash=f"h{i}",
                        dup_of=ids[doc.copy_of] if doc.copy_of else None,
                    )
                ).inserted_primary_key[0]
            )  # fmt: skip
            if doc.encoded:
                conn.execute(
                    insert(s.encoder_tags).values(
                        document_id=ids[doc.key], published_at=when, channel=doc.channel,
                        embedding=pack(vectors[i : i + 1])[0], model_version="e1-test", encoded_at=NOW,
                    )
                )  # fmt: skip
    return ids


def test_unpack_matches_the_encoders_own_rounding(encoder: TextEncoder) -> None:
    vectors = encoder.embed([WATER, WATER_TOO])
    back = unpack(pack(vectors))
    assert back.shape == (2, 384) and back.dtype == np.float32
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)
    assert abs(float(back[0] @ back[1]) - float(vectors[0] @ vectors[1])) < 0.01


def test_a_paraphrase_ranks_above_unrelated_texts(engine: Engine, encoder: TextEncoder) -> None:
    docs = [
        Doc("water", WATER, "hotline", hours_ago=5),
        Doc("water_copy", WATER, "hotline", hours_ago=4, copy_of="water"),  # an exact copy: never a neighbour
        Doc("too", WATER_TOO, "gov", hours_ago=30),
        Doc("too_copy", WATER_TOO, "social", hours_ago=2, copy_of="too"),  # folded into its first copy
        Doc("old", "小区停水好几天了物业也不管", "hotline", hours_ago=24 * 60),  # outside a 30-day window
        Doc("pending", "小区又停水了", "hotline", encoded=False),
        *[Doc(f"u{i}", t, "news" if i % 2 else "social", hours_ago=i + 1) for i, t in enumerate(UNRELATED)],
    ]
    ids = store(engine, encoder, docs)

    found = similar_documents(engine, ids["water"], k=5, days=30)
    assert found is not None
    assert [d.document_id for d in found][0] == ids["too"]
    assert len(found) == 5
    assert found[0].similarity > found[1].similarity  # the paraphrase clearly above every unrelated text
    assert {d.document_id for d in found}.isdisjoint(
        {ids["water"], ids["water_copy"], ids["too_copy"], ids["old"]}
    )
    assert [d.similarity for d in found] == sorted((d.similarity for d in found), reverse=True)
    first = found[0]
    assert (first.snippet, first.channel, first.published_at) == (WATER_TOO, "gov", NOW - timedelta(hours=30))

    everything = similar_documents(engine, ids["water"], k=50, days=90)
    assert everything is not None
    assert {d.document_id for d in everything[:2]} == {ids["too"], ids["old"]}  # both rewordings lead
    assert len(everything) == 2 + len(UNRELATED)

    news_only = similar_documents(engine, ids["water_copy"], k=50, channels=["news"])
    assert news_only is not None
    assert {d.channel for d in news_only} == {"news"} and len(news_only) == len(UNRELATED) // 2

    small_chunks = similar_documents(engine, ids["water"], k=5, days=30, chunk=3)  # streamed 3 rows at a time
    assert small_chunks == found
    assert similar_documents(engine, ids["pending"]) is None  # not encoded yet


def test_meaning_duplicates_hint_a_retold_case_only(engine: Engine, encoder: TextEncoder) -> None:
    docs = [
        Doc("case", CASE, "hotline", hours_ago=50),
        Doc("retold", CASE_RETOLD, "gov", hours_ago=3),
        Doc("retold_copy", CASE_RETOLD, "gov", hours_ago=2, copy_of="retold"),
        Doc("other", OTHER_CASE, "hotline", hours_ago=4),
        Doc("post", CASE_RETOLD, "social", hours_ago=1),  # not a case channel: neither hinted nor a hint
        Doc("late", CASE, "hotline", hours_ago=24 * 45),  # the same words, too long before
        *[Doc(f"u{i}", t, "hotline", hours_ago=i + 1) for i, t in enumerate(UNRELATED)],
    ]
    ids = store(engine, encoder, docs)
    batch = [ids[k] for k in ("case", "retold", "retold_copy", "other", "post")] + [ids["u0"], 999_999]

    hints = meaning_duplicates(engine, batch, days=30)
    assert set(hints) == {ids["case"], ids["retold"], ids["retold_copy"]}
    assert hints[ids["case"]].other_id == ids["retold"]  # the first copy, never the exact copy
    assert hints[ids["retold"]].other_id == ids["case"]  # its own copy is not "another case"
    assert hints[ids["retold_copy"]].other_id == ids["case"]
    assert hints[ids["case"]].similarity >= MEANING_DUPLICATE_THRESHOLD

    wider = meaning_duplicates(engine, ids["case"], days=60)  # now the same words 45 days before count
    assert list(wider) == [ids["case"]] and wider[ids["case"]].other_id == ids["late"]
    assert wider[ids["case"]].similarity > 0.99
    assert meaning_duplicates(engine, ids["case"], threshold=1.01) == {}
    assert meaning_duplicates(engine, []) == {}
