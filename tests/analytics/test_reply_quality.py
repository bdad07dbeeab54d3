"""Reply-quality scoring: the rules on clear cases, agreement with hand labels, and the job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from analytics.reply_quality import delay_score, reply_checks, score_reply
from kernel.settings import Settings
from sensing.jobs import score_replies
from storage import schema as s
from storage.store import Store

REPO = Path(__file__).resolve().parents[2]
MESSAGE = "A市A2区景蓉华苑小区物业乱收停车费，业主多次反映无人处理"
GOOD = (
    "您好！您反映A2区景蓉华苑小区停车收费问题已收悉。经A2区住房和城乡建设局现场调查，已责成物业公司"
    "按照《西地省物业管理条例》第二十条规定整改，退还多收费用。如有疑问请拨打0731-8888888咨询。2019年5月9日"
)
BAD = "已收悉"


def test_good_reply_beats_bad_reply() -> None:
    t0 = datetime(2019, 5, 1, tzinfo=UTC)
    good = score_reply(
        MESSAGE, GOOD, title="景蓉华苑物业乱收停车费", asked_at=t0, replied_at=t0 + timedelta(days=2)
    )
    bad = score_reply(
        MESSAGE, BAD, title="景蓉华苑物业乱收停车费", asked_at=t0, replied_at=t0 + timedelta(days=200)
    )
    assert good.completeness == 1.0 and good.policy == 1.0 and good.timeliness == 1.0
    assert good.unit == "A2区住房和城乡建设局"
    assert bad.total < 10 < 70 < good.total


def test_checks_and_delay_bands() -> None:
    assert reply_checks("您的留言已转相关部门，谢谢")["action"] is False
    assert reply_checks("请向县人社局咨询")["contact"] is True
    assert [delay_score(d, [3, 7, 15, 30, 90]) for d in (1, 5, 20, 100, None)] == [1.0, 0.8, 0.4, 0.0, 0.0]


@pytest.mark.parametrize(
    "name,minimum", [("reply_quality_labels.csv", 0.85), ("reply_quality_labels_heldout.csv", 0.8)]
)
def test_agreement_with_hand_labels(shared_data: Path, name: str, minimum: float) -> None:
    df = pd.read_excel(shared_data / "tipdm2020_c" / "fujian4_messages_replies.xlsx").set_index("留言编号")
    labels = pd.read_csv(REPO / "tests" / "data" / name).set_index("id")
    hits = total = 0
    for doc_id, row in labels.iterrows():
        got = reply_checks(str(df.loc[doc_id, "答复意见"]))
        for check in labels.columns:
            hits += int(got[check]) == int(row[check])
            total += 1
    assert hits / total >= minimum


def test_job_scores_each_reply_once(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("wz", "hotline_files", "hotline")
    t0 = datetime(2019, 5, 1, tzinfo=UTC)
    rows = [
        {"external_id": "1", "channel": "hotline", "content": MESSAGE, "title": "停车费", "published_at": t0,
         "content_hash": "1", "reply": GOOD, "replied_at": t0 + timedelta(days=3)},
        {"external_id": "2", "channel": "hotline", "content": MESSAGE, "published_at": t0, "content_hash": "2", "reply": BAD},
        {"external_id": "3", "channel": "hotline", "content": "没有答复", "published_at": t0, "content_hash": "3"},
    ]  # fmt: skip
    store.write_documents(sid, rows)
    assert score_replies(engine, Settings()) == 2
    assert score_replies(engine, Settings()) == 0
    with engine.connect() as conn:
        got = {r.unit: r for r in conn.execute(select(s.reply_scores))}
    assert set(got) == {"A2区住房和城乡建设局", None}
    assert got["A2区住房和城乡建设局"].components["timeliness"] == 1.0
    assert got["A2区住房和城乡建设局"].total > got[None].total
