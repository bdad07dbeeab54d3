"""The subject matcher: expression, exclusion words, filters, and the shared fast path."""

from __future__ import annotations

import random

import pytest

from analytics.subjects import SubjectSpec, WatchlistSyntaxError, compile_subject, match_documents

WORDS = ["燃气", "泄漏", "电梯", "故障", "演习", "学位", "划片", "小区", "ＡＢＣ", "abc", "噪音"]
SPECS = [
    SubjectSpec(1, "燃气 AND (泄漏 OR 爆炸)", exclude=("演习",)),
    SubjectSpec(2, "电梯 故障", regions=("天河区",)),
    SubjectSpec(3, '"学位 划片" OR 小区', channels=("hotline",)),
    SubjectSpec(4, "NOT 噪音", source_ids=(2,)),
    SubjectSpec(5, "abc OR (小区 NOT 电梯)", categories=("城乡建设",)),
]


def test_one_subject() -> None:
    m = compile_subject(SPECS[0])
    assert m.matches({"title": "燃气", "content": "管道泄漏"})
    assert not m.matches({"content": "燃气泄漏应急演习"})  # an exclusion word
    assert not compile_subject(SPECS[1]).matches({"content": "电梯故障", "province": "广东省"})
    assert compile_subject(SPECS[1]).matches({"content": "电梯故障", "district": "天河区"})
    with pytest.raises(WatchlistSyntaxError) as err:
        compile_subject(SubjectSpec(9, "燃气 AND (泄漏"))
    assert err.value.position == 10


def test_shared_fast_path_equals_each_subject_alone() -> None:
    rng = random.Random(7)
    docs = [
        {
            "id": i,
            "title": rng.choice(WORDS),
            "content": "".join(rng.choice(WORDS) for _ in range(rng.randrange(0, 6))),
            "channel": rng.choice(["hotline", "social"]),
            "source_id": rng.choice([1, 2]),
            "district": rng.choice(["天河区", None]),
            "category": rng.choice(["城乡建设", None]),
        }
        for i in range(3000)
    ]
    matchers = [compile_subject(s) for s in SPECS]
    fast = {(k, d["id"]) for k, d in match_documents(matchers, docs)}
    slow = {(m.spec.key, d["id"]) for m in matchers for d in docs if m.matches(d)}
    assert fast == slow and {k for k, _ in slow} == {1, 2, 3, 4, 5}
