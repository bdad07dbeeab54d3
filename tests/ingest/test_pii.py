"""Tests of ingest.pii: masking cases from tests/data/pii_cases.jsonl, checks, and measured rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ingest.pii import (
    KINDS,
    find_pii,
    hash_author,
    id_check_char,
    is_personal_key,
    is_valid_id18,
    luhn_ok,
    mask_extra,
    mask_pii,
)
from ingest.pii_eval import CUE_KINDS, CUE_NEGATIVES, build_cases, load_carriers, score_cases

CASES = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "data" / "pii_cases.jsonl").open(encoding="utf-8")
]


@pytest.mark.parametrize("case", CASES, ids=[c["note"] for c in CASES])
def test_cases_file(case: dict[str, object]) -> None:
    text = str(case["text"])
    assert mask_pii(text) == case["masked"]
    matches = find_pii(text)
    assert [m.kind for m in matches] == case["kinds"]
    for m in matches:
        assert text[m.start : m.end] == m.text
        assert m.span == (m.start, m.end)


def test_checksums() -> None:
    assert is_valid_id18("11010519491231002X")  # the example printed in GB 11643
    assert is_valid_id18("11010519491231002x")
    assert not is_valid_id18("110105194912310021")
    assert not is_valid_id18("99010519491231002X")  # no such province code
    assert id_check_char("11010519491231002") == "X"
    assert luhn_ok("4111111111111111")
    assert luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")


def test_kinds_filter() -> None:
    text = "手机13812345678，邮箱a@b.cn"
    assert [m.kind for m in find_pii(text, kinds=["email"])] == ["email"]
    assert mask_pii(text, kinds=["mobile"]) == "手机138****5678，邮箱a@b.cn"
    assert set(KINDS) == {"id_card", "bank_card", "mobile", "landline", "email", "plate", "name", "address"}


def test_masked_text_has_no_findings_left() -> None:
    text = "身份证11010519491231002X 电话13812345678 卡号6228481234567894 车牌粤B12345 邮箱ab@qq.com"
    masked = mask_pii(text)
    assert find_pii(masked) == []
    assert "11010519491231002X" not in masked and "13812345678" not in masked


def test_mask_extra_masks_values_like_text_and_personal_keys_whole() -> None:
    extra = {
        "phone": 13812345678,
        "联系电话": "0731-82623150",
        "contact_phone": None,
        "userName": "zhangsan",
        "remark": "我叫张三，手机１３８１２３４５６７８，车牌粤b12345",
        "nested": {"list": ["身份证编号430102198506123011", {"姓名": "李四", "count": 3}]},
        "marker": "【模拟】",
        "hot": 12,
        "filename": "export_2024.csv",
    }
    original = json.dumps(extra, ensure_ascii=False)
    masked = mask_extra(extra)
    assert masked == {
        "phone": "***",
        "联系电话": "***",
        "contact_phone": None,
        "userName": "***",
        "remark": "我叫张*，手机138****5678，车牌粤b***45",
        "nested": {"list": ["身份证编号430102********3011", {"姓名": "***", "count": 3}]},
        "marker": "【模拟】",
        "hot": 12,
        "filename": "export_2024.csv",
    }
    assert json.dumps(extra, ensure_ascii=False) == original  # the input is left alone
    assert mask_extra(["a", ("b", 13812345678)]) == ["a", ["b", 13812345678]]  # bare numbers: no key, kept


def test_personal_keys() -> None:
    personal = ["phone", "Mobile", "tel", "idcard", "id_card", "ID-Card", "name", "full_name", "userName"]
    personal += [
        "address",
        "home_address",
        "姓名",
        "电话",
        "联系电话",
        "手机号",
        "身份证",
        "身份证号",
        "地址",
    ]
    for key in personal:
        assert is_personal_key(key), key
    for key in ["filename", "source", "marker", "flags", "dup_kind", "label", "nickname", "hot", "", 3]:
        assert not is_personal_key(key), key


def test_the_pipeline_stores_extra_masked(engine: Engine) -> None:
    from tests.ingest.conftest import documents
    from tests.ingest.test_pipeline import ListSource, item, make_ingestor

    raw = item("e1", "小区门口积水", extra={"mobile": "13812345678", "note": "家住芙蓉路18号3栋502室"})
    assert make_ingestor(engine).run(ListSource([[raw]])).new == 1
    (doc,) = documents(engine)
    assert doc["extra"] == {"mobile": "***", "note": "家住芙蓉路**号*栋***室"}


def test_hash_author() -> None:
    a = hash_author("张三", "k1")
    assert a == hash_author(" 张三 ", "k1")
    assert a != hash_author("张三", "k2")
    assert a != hash_author("李四", "k1")
    assert len(a) == 32 and int(a, 16) >= 0
    assert len(hash_author("张三", b"k1", length=16)) == 16
    with pytest.raises(ValueError):
        hash_author("张三", "")


@pytest.fixture
def carriers(shared_data: Path) -> list[str]:
    return load_carriers(4000, seed=3, tipdm=False)


def test_recall_and_false_positive_rate_on_planted_values(carriers: list[str]) -> None:
    """Same generator as bench/pii.py on a smaller set: recall >= 99 %, false positives <= 1 %."""
    score = score_cases(build_cases(carriers, 900, 900, seed=5))
    assert score.recall >= 0.99, [c.text for c in score.misses[:5]]
    assert score.fp_rate <= 0.01, [c.text for c in score.false_positives[:5]]
    for category in CUE_KINDS:  # names and addresses after a cue, and 号…室 addresses
        hits, total = score.by_category[category]
        assert hits >= 0.97 * total, category
    for category in CUE_NEGATIVES:
        hits, total = score.by_category[category]
        assert hits <= 0.01 * total, category


def test_gates_hold_for_every_finding() -> None:
    """find_pii skips a kind's finder when its gate fails: every finding must pass its gate."""
    import random

    from ingest.pii import _FINDERS, _GATES

    texts = [str(c["text"]) for c in CASES]
    rng = random.Random(4)
    alphabet = "0123456789 -()+@.转号粤B京AXx元¥abcDE·卡银行"
    for base in list(texts):  # near misses: the cases with a few characters deleted, replaced or added
        for _ in range(100):
            chars = list(base)
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(chars) + 1)
                op = rng.randrange(3)
                if op == 0 and i < len(chars):
                    del chars[i]
                elif op == 1 and i < len(chars):
                    chars[i] = rng.choice(alphabet)
                else:
                    chars.insert(i, rng.choice(alphabet))
            texts.append("".join(chars))
    found = 0
    for text in texts:
        for kind in KINDS:
            matches = list(_FINDERS[kind](text))
            found += len(matches)
            assert not matches or _GATES[kind](text), (kind, text)
    assert found > 500  # the mutated texts do exercise the finders
