"""Tests for nlp.tokenize: private jieba tokenizer, user dictionary, stop words, masked places."""

from __future__ import annotations

import json
import logging
import random
import tempfile
from pathlib import Path

import jieba
import jieba.finalseg
import pytest

from nlp import tokenize
from nlp.jieba_cut import JiebaCutter, hmm_cut
from nlp.tokenize import (
    USERDICT_PATH,
    cut_words,
    cut_words_batch,
    get_cutter,
    get_tokenizer,
    is_content_word,
    load_stopwords,
    read_userdict,
    strip_masked_places,
)


def test_user_dictionary_words_stay_whole() -> None:
    words = cut_words("小区业委会乱收物业费，楼下噪音扰民")
    assert "物业费" in words
    assert "业委会" in words
    assert "噪音扰民" in words


def test_every_user_dictionary_entry_is_one_token() -> None:
    entries = [word for word, _, _ in read_userdict(USERDICT_PATH)]
    assert len(entries) > 50
    tok = get_tokenizer()
    broken = [w for w in entries if tok.lcut(w) != [w]]
    assert broken == []
    assert not any(w.startswith("#") or " " in w for w in entries)


def test_read_userdict_parses_frequency_and_tag(tmp_path: Path) -> None:
    path = tmp_path / "dict.txt"
    path.write_text(
        "# comment line\n\n物业费 n\n燃气管道 1000 n\n最多跑一次\n12345热线 20\n", encoding="utf-8"
    )
    assert read_userdict(path) == [
        ("物业费", None, "n"),
        ("燃气管道", 1000, "n"),
        ("最多跑一次", None, None),
        ("12345热线", 20, None),
    ]


def test_drops_stop_words_punctuation_digits_and_single_chars() -> None:
    words = cut_words("我们的小区，在2019年12月3日，停水了！！！ 50% 的 居民 很 生气")
    stop = load_stopwords()
    assert words, "content words expected"
    for w in words:
        assert w not in stop
        assert len(w) >= 2
        assert not w.isdigit()
        assert any(ch.isalpha() for ch in w)
    assert "停水" in words
    assert "居民" in words


def test_masked_places_are_removed() -> None:
    text = "西地省A市A1区的K9县和C4市，A2区华庭小区漏水"
    assert "A市" not in strip_masked_places(text)
    words = cut_words(text)
    assert not any(w.startswith(("A", "K", "C")) for w in words)
    assert not any(w in {"西地省", "西地"} for w in words)
    assert "漏水" in words


def test_masked_pattern_does_not_eat_latin_words() -> None:
    assert "ETC" in strip_masked_places("ETC市区通行")
    assert "5G" in cut_words("5G基站辐射")


def test_empty_and_blank_input() -> None:
    assert cut_words("") == []
    assert cut_words("   ") == []
    assert cut_words_batch(["", "物业费"]) == [[], ["物业费"]]


def test_min_len_one_keeps_single_content_chars() -> None:
    assert "水" in cut_words("水很黄，水质差", min_len=1)
    assert "水" not in cut_words("水很黄，水质差")
    assert "水质" in cut_words("水很黄，水质差")


def test_is_content_word_rules() -> None:
    stop = frozenset({"问题"})
    assert not is_content_word("问题", stop)
    assert not is_content_word("12.5%", stop)
    assert not is_content_word("——", stop)
    assert not is_content_word("x", stop)
    assert is_content_word("5G", stop)
    assert is_content_word("ETC", stop)
    assert is_content_word("燃气", stop)


def test_private_tokenizer_leaves_global_jieba_alone() -> None:
    tok = get_tokenizer()
    assert tok is not jieba.dt
    assert tok is get_tokenizer()  # built once
    assert tok.FREQ.get("噪音扰民", 0) > 0  # a user-dictionary word ...
    assert jieba.dt.FREQ.get("噪音扰民", 0) == 0  # ... never added to the global tokenizer


def test_cache_lives_in_temp_dir_and_jieba_is_quiet() -> None:
    tok = get_tokenizer()
    assert tok.tmp_dir is not None
    assert Path(tok.tmp_dir).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert logging.getLogger("jieba").level >= logging.WARNING


def test_jieba_prints_nothing_on_first_build(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(tokenize, "_tokenizer", None)
    tok = get_tokenizer()
    assert tok.lcut("燃气泄漏")
    captured = capfd.readouterr()
    assert "prefix dict" not in captured.err
    assert "Building" not in captured.err


def test_stopword_file_header_is_not_a_stop_word() -> None:
    stop = load_stopwords()
    assert len(stop) > 1000
    assert not any(w.startswith("#") for w in stop)
    assert "的" in stop
    assert "燃气" not in stop and "安全" not in stop


def test_speed_is_reasonable() -> None:
    import time

    text = "A市A1区某小区燃气管道老化，存在安全隐患，物业公司迟迟不处理，希望相关部门尽快解决。" * 20
    get_tokenizer()
    start = time.perf_counter()
    for _ in range(50):
        cut_words(text)
    elapsed = time.perf_counter() - start
    chars = len(text) * 50
    assert chars / elapsed > 50_000, f"{chars / elapsed:.0f} chars/s"


# Texts that exercise every branch of jieba's default cut: user-dictionary words, unknown names
# left to the HMM, Latin letters and digits inside Chinese, decimals and percentages, spaces,
# CRLF, emoji, full-width forms, hashtags, URLs and a long run of unknown characters.
CUT_CASES = [
    "",
    " ",
    "小区业委会乱收物业费，楼下噪音扰民",
    "李小福是创新办主任也是云计算方面的专家; 什么是八一双鹿\r\n例如我输入一个带“韩玉赏鉴”的标题",
    "我爱北京天安门！！！ 5G基站辐射, ETC市区通行, 涨了12.5%和30%",
    "#武汉加油# 转发微博 http://t.cn/A6abcDeF @人民日报 [泪][心]😭😭",
    "ＡＢＣ１２３全角字符和abc-def_ghi.jkl+mn#o&p%混排",
    "瞿秋白纪念馆旁边的蒯大富和鞠萍姐姐去了龘靐齉爩",
    "丽发新城小区燃气管道老化，燃气泄漏多次，存在安全隐患。" * 3,
    "\t\n  空白  \u3000全角空格\n",
]


@pytest.mark.parametrize("hmm", [True, False])
def test_cutter_gives_jieba_tokens(hmm: bool) -> None:
    tok = get_tokenizer()
    cutter = get_cutter()
    for text in CUT_CASES:
        assert cutter.cut(text, hmm=hmm) == tok.lcut(text, HMM=hmm), text


def test_cutter_gives_jieba_tokens_on_real_posts(shared_data: Path) -> None:
    rows = json.loads((shared_data / "smp2020_ewect" / "usual_eval_labeled.txt").read_text(encoding="utf-8"))
    texts = [r["content"] for r in rows[:1500]]
    tok = get_tokenizer()
    cutter = JiebaCutter(tok)  # a fresh one: nothing memoised
    for hmm in (True, False):
        assert [cutter.cut(t, hmm=hmm) for t in texts] == [tok.lcut(t, HMM=hmm) for t in texts]


def test_hmm_cut_is_jiebas_finalseg() -> None:
    runs = ["韩玉赏鉴", "蒯大富鞠萍", "abc测试ABC1.5%试", "１２３", "龘靐齉爩", "的的的的的的的的", "a", "测"]
    rng = random.Random(5)
    alphabet = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会"
    runs += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    for run in runs:
        assert hmm_cut(run) == list(jieba.finalseg.cut(run)), run


@pytest.fixture
def tiny_tokenizer(tmp_path: Path) -> jieba.Tokenizer:
    dictionary = tmp_path / "dict.txt"
    dictionary.write_text(
        "北京 300 ns\n天安门 200 ns\n我 500 r\n爱 400 v\n北 50 n\n京 40 n\n", encoding="utf-8"
    )
    tok = jieba.Tokenizer(dictionary=str(dictionary))
    tok.tmp_dir = str(tmp_path)
    tok.initialize()
    return tok


def test_cutter_follows_dictionary_changes(tiny_tokenizer: jieba.Tokenizer) -> None:
    cutter = JiebaCutter(tiny_tokenizer)
    text = "我爱北京天安门广场"
    assert cutter.cut(text) == tiny_tokenizer.lcut(text)
    assert "天安门广场" not in cutter.cut(text)
    tiny_tokenizer.add_word("天安门广场", 10_000)
    assert "天安门广场" in tiny_tokenizer.lcut(text)
    assert cutter.cut(text) == tiny_tokenizer.lcut(text)  # memo dropped, tables rebuilt
    try:
        tiny_tokenizer.del_word("北京")  # also jieba's global Force_Split_Words: undone below
        assert cutter.cut(text, hmm=False) == tiny_tokenizer.lcut(text, HMM=False)
    finally:
        jieba.finalseg.Force_Split_Words.discard("北京")


def test_cutter_memo_is_bounded(tiny_tokenizer: jieba.Tokenizer) -> None:
    cutter = JiebaCutter(tiny_tokenizer, memo_size=3)
    texts = [f"我爱北京{n}天安门，{n}北京爱我" for n in "一二三四五六七八九"]
    for text in texts * 2:
        assert cutter.cut(text) == tiny_tokenizer.lcut(text)
    assert 0 < len(cutter._memo[True]) <= 3


def test_hmm_cut_breaks_ties_like_jieba(monkeypatch: pytest.MonkeyPatch) -> None:
    """HMM tables of small integers make many paths score exactly the same; jieba's must win."""
    from nlp import jieba_cut as module

    rng = random.Random(11)
    chars = "甲乙丙"
    legal = {"B": "EM", "E": "BS", "M": "EM", "S": "BS"}
    for _ in range(150):
        start = {s: float(rng.randint(-2, -1)) for s in "BMES"}
        trans = {s: {t: float(rng.randint(-2, -1)) for t in legal[s]} for s in "BMES"}
        emit = {s: {c: float(rng.randint(-2, -1)) for c in chars if rng.random() < 0.8} for s in "BMES"}
        for name, table in (("start_P", start), ("trans_P", trans), ("emit_P", emit)):
            monkeypatch.setattr(jieba.finalseg, name, table)
        monkeypatch.setattr(module, "_HMM_START", start)
        monkeypatch.setattr(module, "_HMM_TRANS", trans)
        monkeypatch.setattr(module, "_HMM_EMIT", emit)
        for _ in range(10):
            run = "".join(rng.choice(chars + "丁") for _ in range(rng.randint(1, 7)))
            assert hmm_cut(run) == list(jieba.finalseg.cut(run)), (run, start, trans, emit)


def test_compiled_cut_agrees_with_jieba_on_real_posts(shared_data: Path) -> None:
    """jieba-rs cuts most blocks; on real posts its tokens are jieba's, bar rare exact-score ties."""
    texts: list[str] = []
    for name in ("usual_train.txt", "virus_train.txt"):
        rows = json.loads((shared_data / "smp2020_ewect" / name).read_text(encoding="utf-8"))
        texts += [r["content"] for r in rows[:4000]]
    tok = get_tokenizer()
    compiled, python = JiebaCutter(tok), JiebaCutter(tok, compiled=False)
    assert compiled._engine is not None and python._engine is None
    for hmm in (True, False):
        differ = [t for t in texts if compiled.cut(t, hmm=hmm) != python.cut(t, hmm=hmm)]
        assert len(differ) <= len(texts) // 1000, differ  # 3 of the 40,374 SMP posts
        for text in differ:  # a tie moves a boundary, never a character
            assert "".join(compiled.cut(text, hmm=hmm)) == text


def test_python_cut_is_used_where_jieba_rs_disagrees() -> None:
    """Latin runs joined by '-' or '.', and repeated characters, are cut by the Python path."""
    tok = get_tokenizer()
    cutter = JiebaCutter(tok)
    for text in ("浓度10-7mol的溶液", "迪克森（L.E.Dickson）说", "啊啊啊啊啊啊啊卧艹", "一点一点一点头绪"):
        assert cutter.cut(text) == tok.lcut(text), text


def test_deleted_words_turn_the_compiled_cut_off(tiny_tokenizer: jieba.Tokenizer) -> None:
    cutter = JiebaCutter(tiny_tokenizer)
    assert cutter._engine is not None
    try:
        tiny_tokenizer.del_word("北京")  # jieba must then split "北京" even where its HMM finds it
        assert cutter.cut("我爱北京") == tiny_tokenizer.lcut("我爱北京")
        assert cutter._engine is None
    finally:
        jieba.finalseg.Force_Split_Words.discard("北京")
