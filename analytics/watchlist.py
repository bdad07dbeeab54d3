"""Boolean keyword expressions for watchlists (pure; hand-written recursive-descent parser).

Grammar (operators are case-insensitive; ``&``/``&&``, ``|``/``||`` and ``!`` are synonyms)::

    expr    := or_expr
    or_expr := and_expr ( "OR" and_expr )*
    and_expr:= not_expr ( ["AND"] not_expr )*      # juxtaposition means AND
    not_expr:= "NOT" not_expr | atom
    atom    := TERM | PHRASE | "(" expr ")"

A TERM is a run of characters other than whitespace, parentheses, quotes and ``& | !``, so word
operators need spaces around them (``燃气 AND 爆炸``; ``燃气AND爆炸`` is one term). A PHRASE is
quoted with ``"..."`` or ``“...”``; its words must appear in order with only optional whitespace
between them, so ``"燃气 爆炸"`` matches 燃气爆炸 and 燃气 爆炸. To search for the word ``and``, quote it.

Matching is substring matching after Unicode NFKC normalisation and case folding, on both the
expression and the text (full-width ``（ ）！`` work as operators, ＡＢＣ matches abc). Syntax errors
raise ``WatchlistSyntaxError`` naming the 0-based character position in the original expression.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_OPEN_QUOTES = {'"': '"', "“": "”", "「": "」"}
_SPECIAL = set("()&|!") | set(_OPEN_QUOTES) | set(_OPEN_QUOTES.values())
_WORD_OPS = {"and": "AND", "or": "OR", "not": "NOT"}


class WatchlistSyntaxError(ValueError):
    """The expression is malformed; ``position`` is the 0-based offset in the expression."""

    def __init__(self, message: str, position: int, expression: str) -> None:
        self.position = position
        self.expression = expression
        super().__init__(
            f"{message} at position {position}: {expression[:position]}⟨here⟩{expression[position:]}"
        )


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class _Token:
    kind: str  # TERM, PHRASE, AND, OR, NOT, LPAREN, RPAREN, END
    text: str  # normalised
    pos: int
    raw: str = ""  # as written


def _tokenize(expr: str) -> list[_Token]:
    # Normalise character by character so every token keeps its position in the original string.
    chars = [(_normalize(ch), i) for i, ch in enumerate(expr)]
    tokens: list[_Token] = []
    i = 0
    while i < len(chars):
        ch, pos = chars[i]
        if not ch or ch.isspace():
            i += 1
        elif ch == "(" or ch == ")":
            tokens.append(_Token("LPAREN" if ch == "(" else "RPAREN", ch, pos))
            i += 1
        elif ch in "&|":
            i += 2 if i + 1 < len(chars) and chars[i + 1][0] == ch else 1
            tokens.append(_Token("AND" if ch == "&" else "OR", ch, pos))
        elif ch == "!":
            tokens.append(_Token("NOT", ch, pos))
            i += 1
        elif ch in _OPEN_QUOTES:
            close = _OPEN_QUOTES[ch]
            j = i + 1
            while j < len(chars) and chars[j][0] != close:
                j += 1
            if j >= len(chars):
                raise WatchlistSyntaxError("unterminated phrase", pos, expr)
            phrase = "".join(c for c, _ in chars[i + 1 : j]).strip()
            if not phrase:
                raise WatchlistSyntaxError("empty phrase", pos, expr)
            tokens.append(_Token("PHRASE", phrase, pos))
            i = j + 1
        elif ch in _SPECIAL:
            raise WatchlistSyntaxError(f"unexpected {expr[pos]!r}", pos, expr)
        else:
            j = i
            while (
                j < len(chars)
                and chars[j][0]
                and not chars[j][0].isspace()
                and chars[j][0][0] not in _SPECIAL
            ):
                j += 1
            word = "".join(c for c, _ in chars[i:j])
            kind = _WORD_OPS.get(word, "TERM")
            tokens.append(_Token(kind, word, pos, expr[pos : chars[j - 1][1] + 1]))
            i = j
    tokens.append(_Token("END", "", len(expr)))
    return tokens


@dataclass(frozen=True)
class _Term:
    text: str
    pattern: re.Pattern[str]
    plain: bool = False  # one word: a substring test, several times faster than the pattern

    def found(self, text: str) -> bool:
        return self.text in text if self.plain else self.pattern.search(text) is not None


@dataclass(frozen=True)
class _Not:
    child: _Node


@dataclass(frozen=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True)
class _Or:
    children: tuple[_Node, ...]


_Node = _Term | _Not | _And | _Or


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> _Node:
        if self.peek().kind == "END":
            raise WatchlistSyntaxError("empty expression", 0, self.expr)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "END":
            what = "unbalanced ')'" if tok.kind == "RPAREN" else f"unexpected {tok.raw or tok.text!r}"
            raise WatchlistSyntaxError(what, tok.pos, self.expr)
        return node

    def or_expr(self) -> _Node:
        children = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def and_expr(self) -> _Node:
        children = [self.not_expr()]
        while self.peek().kind in ("AND", "NOT", "TERM", "PHRASE", "LPAREN"):
            if self.peek().kind == "AND":
                self.take()
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def not_expr(self) -> _Node:
        if self.peek().kind == "NOT":
            self.take()
            return _Not(self.not_expr())
        return self.atom()

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "TERM":
            return _Term(tok.text, re.compile(re.escape(tok.text)), plain=True)
        if tok.kind == "PHRASE":
            words = tok.text.split()
            pattern = re.compile(r"\s*".join(re.escape(w) for w in words))
            return _Term(" ".join(words), pattern, plain=len(words) == 1)
        if tok.kind == "LPAREN":
            node = self.or_expr()
            close = self.take()
            if close.kind != "RPAREN":
                raise WatchlistSyntaxError(f"expected ')' to close '(' at {tok.pos}", close.pos, self.expr)
            return node
        found = "end of expression" if tok.kind == "END" else repr(tok.raw or tok.text)
        raise WatchlistSyntaxError(f"expected a term, phrase or '(' but found {found}", tok.pos, self.expr)


def _evaluate(node: _Node, text: str, memo: dict[str, bool] | None = None) -> bool:
    """Whether ``text`` satisfies ``node``; ``memo`` (term -> found) shares term tests between
    expressions matched against the same text."""
    if isinstance(node, _Term):
        if memo is None:
            return node.found(text)
        hit = memo.get(node.text)
        if hit is None:
            hit = memo[node.text] = node.found(text)
        return hit
    if isinstance(node, _Not):
        return not _evaluate(node.child, text, memo)
    if isinstance(node, _And):
        return all(_evaluate(c, text, memo) for c in node.children)
    return any(_evaluate(c, text, memo) for c in node.children)


#: A necessary condition on a text, for reading candidates from a keyword index: ``("term", word)``
#: (the text contains the word), ``("and", parts)`` or ``("or", parts)``; None means any text.
Prefilter = tuple[str, object]


def _prefilter(node: _Node) -> Prefilter | None:
    if isinstance(node, _Term):
        words = node.text.split()
        if len(words) == 1:
            return ("term", words[0])
        return ("and", tuple(("term", w) for w in words))
    if isinstance(node, _Not):
        return None  # a negation excludes; it never narrows the candidates
    parts = [_prefilter(c) for c in node.children]
    if isinstance(node, _And):
        kept = tuple(p for p in parts if p is not None)
        return None if not kept else kept[0] if len(kept) == 1 else ("and", kept)
    if any(p is None for p in parts):
        return None
    return ("or", tuple(p for p in parts if p is not None))


def _positive_terms(node: _Node, negated: bool = False) -> list[_Term]:
    if isinstance(node, _Term):
        return [] if negated else [node]
    if isinstance(node, _Not):
        return _positive_terms(node.child, not negated)
    return [t for c in node.children for t in _positive_terms(c, negated)]


@dataclass(frozen=True)
class MatchResult:
    """Outcome of one match: whether the expression holds and which positive terms were found."""

    matched: bool
    terms: tuple[str, ...]


class WatchlistMatcher:
    """A compiled watchlist expression; build it with ``compile_expression``."""

    def __init__(self, expression: str, tree: _Node) -> None:
        self.expression = expression
        self._tree = tree
        self._positive = _positive_terms(tree)
        self.terms: tuple[str, ...] = tuple(dict.fromkeys(t.text for t in self._positive))

    def __repr__(self) -> str:
        return f"WatchlistMatcher({self.expression!r})"

    def matches(self, text: str) -> bool:
        """True when the text satisfies the expression."""
        return _evaluate(self._tree, _normalize(text or ""))

    def matches_normalized(self, text: str, memo: dict[str, bool] | None = None) -> bool:
        """:meth:`matches` on a text already passed through :func:`normalize_text` (normalise once,
        match many expressions); pass one ``memo`` dict per text to share the term tests."""
        return _evaluate(self._tree, text, memo)

    def prefilter(self) -> Prefilter | None:
        """A necessary condition in terms of (normalised) words: every matching text satisfies it,
        so an index may read only the texts that do. None when the expression narrows nothing
        (``NOT x`` alone)."""
        return _prefilter(self._tree)

    def match(self, text: str) -> MatchResult:
        """Match and report the (non-negated) terms found in the text; no terms when not matched."""
        norm = _normalize(text or "")
        if not _evaluate(self._tree, norm):
            return MatchResult(False, ())
        found = dict.fromkeys(t.text for t in self._positive if t.found(norm))
        return MatchResult(True, tuple(found))


def normalize_text(text: str | None) -> str:
    """The form expressions are matched against (NFKC, case-folded)."""
    return _normalize(text or "")


def compile_expression(expression: str) -> WatchlistMatcher:
    """Parse a boolean keyword expression such as ``(燃气 OR 天然气) AND "爆炸" NOT 演习``.

    Raises:
        WatchlistSyntaxError: on malformed input, naming the character position.
    """
    return WatchlistMatcher(expression, _Parser(expression).parse())
