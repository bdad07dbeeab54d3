"""Which documents a subject (专题) holds: its expression, exclusion words and filters (pure).

A subject matches a document when the document's title and text satisfy the expression (the
watchlist grammar of :mod:`analytics.watchlist`), hold none of the exclusion words, and the
document passes every filter the subject sets: channel, source, region (the tagged province, city
or district) and demand category (the model's tag). Empty filters mean "all".

Documents are given as mappings with the keys ``title``, ``content``, ``channel``, ``source_id``,
``province``, ``city``, ``district`` and ``category`` (missing keys read as empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.watchlist import Prefilter, WatchlistSyntaxError, compile_expression, normalize_text

__all__ = [
    "SubjectMatcher",
    "SubjectSpec",
    "WatchlistSyntaxError",
    "compile_subject",
    "match_documents",
    "spec_from",
]


@dataclass(frozen=True)
class SubjectSpec:
    """What a subject matches; ``key`` identifies it to the caller (the subject's id)."""

    key: int
    expression: str
    exclude: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    source_ids: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


class SubjectMatcher:
    """A compiled subject; build it with :func:`compile_subject`."""

    def __init__(self, spec: SubjectSpec) -> None:
        self.spec = spec
        self.expression = compile_expression(spec.expression)
        self._exclude = tuple(w for w in (normalize_text(x).strip() for x in spec.exclude) if w)
        self._channels = frozenset(spec.channels)
        self._sources = frozenset(int(i) for i in spec.source_ids)
        self._regions = frozenset(spec.regions)
        self._categories = frozenset(spec.categories)

    def passes_filters(self, doc: Mapping[str, Any]) -> bool:
        """The channel, source, region and category filters alone."""
        if self._channels and doc.get("channel") not in self._channels:
            return False
        if self._sources and doc.get("source_id") not in self._sources:
            return False
        if self._regions and not self._regions & {doc.get(k) for k in ("province", "city", "district")}:
            return False
        return not self._categories or doc.get("category") in self._categories

    def matches_text(self, normalized: str, memo: dict[str, bool] | None = None) -> bool:
        """The expression and exclusion words on a text from :func:`document_text` (``memo``: see
        ``WatchlistMatcher.matches_normalized``)."""
        if not self.expression.matches_normalized(normalized, memo):
            return False
        return not any(w in normalized for w in self._exclude)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """Whether the subject holds ``doc``."""
        return self.passes_filters(doc) and self.matches_text(document_text(doc))

    def prefilter(self) -> Prefilter | None:
        """A necessary word condition (see :meth:`WatchlistMatcher.prefilter`) for index reads."""
        return self.expression.prefilter()


def spec_from(subject: Any) -> SubjectSpec:
    """The spec of a stored subject (anything with the attributes of ``storage.subjects.Subject``)."""
    return SubjectSpec(
        key=int(subject.id),
        expression=subject.expression,
        exclude=tuple(subject.exclude),
        channels=tuple(subject.channels),
        source_ids=tuple(subject.source_ids),
        regions=tuple(subject.regions),
        categories=tuple(subject.categories),
    )


def compile_subject(spec: SubjectSpec) -> SubjectMatcher:
    """Compile a subject.

    Raises:
        WatchlistSyntaxError: the expression does not parse (with the position of the fault).
    """
    return SubjectMatcher(spec)


def document_text(doc: Mapping[str, Any]) -> str:
    """Title and text, normalised as expressions are matched."""
    return normalize_text(f"{doc.get('title') or ''}\n{doc.get('content') or ''}")


def _triggers(prefilter: Prefilter | None) -> frozenset[str] | None:
    """Words of which a matching text holds at least one (None: no such set)."""
    if prefilter is None:
        return None
    kind, arg = prefilter
    if kind == "term":
        return frozenset([str(arg)])
    parts = [_triggers(p) for p in arg]  # type: ignore[attr-defined]
    if kind == "or":
        return None if any(p is None for p in parts) else frozenset().union(*parts)  # type: ignore[arg-type]
    known = [p for p in parts if p is not None]
    return min(known, key=len) if known else None


def match_documents(
    matchers: Sequence[SubjectMatcher], docs: Iterable[Mapping[str, Any]]
) -> list[tuple[int, Mapping[str, Any]]]:
    """``(subject key, document)`` for every subject that holds each document.

    Each text is normalised once, and a subject is only evaluated when the text holds one of its
    trigger words (one word of each OR branch; see :meth:`SubjectMatcher.prefilter`): a few
    substring tests per document instead of every expression (50 subjects cost about 4 x less).
    """
    out: list[tuple[int, Mapping[str, Any]]] = []
    if not matchers:
        return out
    always: list[int] = []
    by_word: dict[str, list[int]] = {}
    for i, m in enumerate(matchers):
        words = _triggers(m.prefilter())
        if words is None:
            always.append(i)
        else:
            for w in words:
                by_word.setdefault(w, []).append(i)
    for doc in docs:
        text = document_text(doc)
        memo: dict[str, bool] = {}
        chosen = set(always)
        for word, owners in by_word.items():
            if word in text:
                memo[word] = True
                chosen.update(owners)
            else:
                memo[word] = False
        for i in sorted(chosen):
            m = matchers[i]
            if m.passes_filters(doc) and m.matches_text(text, memo):
                out.append((m.spec.key, doc))
    return out
