"""Boolean watchlist expressions: parsing, matching, matched terms and positioned errors."""

from __future__ import annotations

import pytest

from analytics.watchlist import MatchResult, WatchlistSyntaxError, compile_expression


@pytest.mark.parametrize(
    ("expr", "text", "expected"),
    [
        ("燃气", "某小区燃气泄漏", True),
        ("燃气 AND 爆炸", "燃气管道爆炸", True),
        ("燃气 AND 爆炸", "燃气管道泄漏", False),
        ("燃气 爆炸", "燃气管道爆炸", True),  # juxtaposition is AND
        ("燃气 OR 煤气", "煤气罐", True),
        ("燃气 NOT 演练", "燃气泄漏应急演练", False),
        ("燃气 AND NOT 演练", "燃气泄漏", True),
        ('"燃气 爆炸"', "燃气爆炸", True),
        ('"燃气 爆炸"', "燃气 爆炸", True),
        ('"燃气 爆炸"', "燃气管道爆炸", False),  # a phrase keeps its words adjacent
        ("“燃气 爆炸”", "燃气爆炸", True),  # curly quotes
        ("a OR b AND c", "a", True),  # AND binds tighter than OR
        ("(a OR b) AND c", "a", False),
        ("NOT NOT 燃气", "燃气", True),
        ("（燃气｜煤气）！演练", "煤气", True),  # full-width operators
        ("（燃气｜煤气）！演练", "煤气演练", False),
        ("Gas && Leak", "GAS LEAK in A1区", True),  # case-insensitive
        ("ｐｍ2.5", "PM2.5超标", True),  # full-width letters
        ('"and"', "black and white", True),
        ("A市 (噪音 | 扰民) !已解决", "A市A3区工地夜间施工噪音", True),
    ],
)
def test_matches(expr: str, text: str, expected: bool) -> None:
    assert compile_expression(expr).matches(text) is expected


def test_match_reports_positive_terms_only() -> None:
    m = compile_expression('(燃气 OR 天然气) AND "泄漏 爆炸" NOT 演习')
    assert m.terms == ("燃气", "天然气", "泄漏 爆炸")
    assert m.match("小区天然气泄漏爆炸") == MatchResult(True, ("天然气", "泄漏 爆炸"))
    assert m.match("燃气泄漏爆炸演习") == MatchResult(False, ())
    assert m.match("") == MatchResult(False, ())


@pytest.mark.parametrize(
    ("expr", "position", "fragment"),
    [
        ("", 0, "empty expression"),
        ("燃气 AND", 6, "found end of expression"),
        ("(燃气 OR 煤气", 9, "expected ')'"),
        ("燃气 OR 煤气)", 8, "unbalanced ')'"),
        ('燃气 "爆炸', 3, "unterminated phrase"),
        ('燃气 ""', 3, "empty phrase"),
        ("燃气 AND OR 爆炸", 7, "found 'OR'"),
        ("NOT", 3, "found end of expression"),
        ("燃气 ” 爆炸", 3, "unexpected"),
    ],
)
def test_syntax_errors_name_the_position(expr: str, position: int, fragment: str) -> None:
    with pytest.raises(WatchlistSyntaxError) as err:
        compile_expression(expr)
    assert err.value.position == position
    assert fragment in str(err.value) and f"position {position}" in str(err.value)
