"""Tests for nlp.tokenize: private jieba tokenizer, user dictionary, stop words, masked places."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import jieba
import pytest

from nlp import tokenize
from nlp.tokenize import (
    USERDICT_PATH,
    cut_words,
    cut_words_batch,
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
