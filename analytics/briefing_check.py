"""Check a model-written text against the facts it was given, sentence by sentence (pure).

The model receives numbered facts (``[F3] …``, each a sentence Minsheng computed) and masked
documents (``[D4711] …``). :func:`verify_text` splits its answer into sentences and keeps one only
when:

* every id it cites exists: a fact of this briefing, or a document given for this period;
* a sentence that states a figure or names a category, region or channel cites something;
* every figure (:func:`analytics.figures.extract_figures`) equals a figure of the same kind in a
  cited fact (dates, weeks and years may also come from the period fact) within the rounding both
  are written with: ``35%`` matches 35.24 %, ``1.2万条`` matches 12,345 条, ``413 条`` does not
  match 412 条;
* every category, region or channel it names appears in a cited fact or document.

A failing sentence is removed and listed with its reason (in Chinese, for the 未通过核验 appendix).
When more than ``max_failed_share`` of the checked sentences fail, or none is left, the caller shows
its template narrative instead (``fallback``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from analytics.figures import Figure, extract_figures, strip_citations

SECTION_TITLES = ("态势概述", "重点议题", "风险提示", "处置建议")
APPENDIX_TITLE = "未通过核验"
CITED = re.compile(r"[\[【]\s*((?:[FD]\d+\s*[,，、]?\s*)+)[\]】]")
ONE_ID = re.compile(r"([FD])(\d+)")
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
TRAILING_CITATION = re.compile(r"([。！？!?；;])((?:\s*[\[【]\s*[FD]\d[^\]】]*[\]】])+)")
PERIOD_UNITS = ("date", "week", "year")
GENERIC_LABELS = {"本期", "上期", "变化", "变化率"}
DIRECTLY = re.compile(r"[\s为是达共计：:]*")
CLAUSE_BREAKS = "，,；;、。"


@dataclass(frozen=True)
class SentenceResult:
    """One sentence with its outcome; ``reason`` is empty when it passed."""

    section: str
    text: str
    figures: int
    cited: tuple[str, ...]
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass
class Verification:
    """The outcome for a whole text."""

    sentences: list[SentenceResult] = field(default_factory=list)
    max_failed_share: float = 0.3

    @property
    def removed(self) -> list[SentenceResult]:
        return [s for s in self.sentences if not s.ok]

    @property
    def checked_figures(self) -> int:
        """Figures in the published sentences, each matched to a cited fact."""
        return sum(s.figures for s in self.sentences if s.ok)

    @property
    def claims(self) -> int:
        return sum(1 for s in self.sentences if s.figures or s.cited or not s.ok)

    @property
    def failed_share(self) -> float:
        return len(self.removed) / self.claims if self.claims else 0.0

    @property
    def fallback(self) -> bool:
        kept = [s for s in self.sentences if s.ok]
        return not kept or self.failed_share > self.max_failed_share

    def published_text(self) -> str:
        """The kept sentences under their section titles, then the 未通过核验 appendix."""
        out: list[str] = []
        section = None
        for s in self.sentences:
            if not s.ok:
                continue
            if s.section != section:
                section = s.section
                if section:
                    out.append(f"\n【{section}】\n" if out else f"【{section}】\n")
            out.append(s.text)
        text = "".join(out).strip()
        if self.removed:
            text += f"\n\n【{APPENDIX_TITLE}】\n" + "\n".join(
                f"{i}. {s.text}（原因：{s.reason}）" for i, s in enumerate(self.removed, start=1)
            )
        return text

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON for storage and ``--json``."""
        return {
            "checked_figures": self.checked_figures,
            "sentences": len(self.sentences),
            "claims": self.claims,
            "failed_share": round(self.failed_share, 4),
            "fallback": self.fallback,
            "removed": [{"section": s.section, "sentence": s.text, "reason": s.reason} for s in self.removed],
        }


def split_sentences(text: str) -> list[tuple[str, str]]:
    """(section, sentence) pairs; a line naming one of :data:`SECTION_TITLES` starts a section."""
    out: list[tuple[str, str]] = []
    section = ""
    for line in text.splitlines():
        bare = re.sub(r"^[#\s*【\[(（一二三四五六七八九十、.\d]+|[】\])）:：*\s]+$", "", line.strip())
        if bare in SECTION_TITLES:
            section = bare
            continue
        if bare == APPENDIX_TITLE:
            break  # a model that writes its own appendix: what follows is not published text
        # "…条。[F2]" -> "…条[F2]。": a citation after the full stop belongs to the sentence before it
        for part in SENTENCE_END.split(TRAILING_CITATION.sub(r"\2\1", line.strip())):
            if part.strip():
                out.append((section, part.strip()))
    return out


def cited_ids(sentence: str) -> tuple[str, ...]:
    """``F3``, ``D4711`` … in the order cited, each once."""
    ids: list[str] = []
    for group in CITED.findall(sentence):
        for kind, num in ONE_ID.findall(group):
            if f"{kind}{int(num)}" not in ids:
                ids.append(f"{kind}{int(num)}")
    return tuple(ids)


def _matches(figure: Figure, candidates: list[Figure]) -> bool:
    for fact in candidates:
        if figure.unit == "date" and fact.unit == "date":
            same = figure.value == fact.value or (
                figure.value < 10_000 and fact.value % 10_000 == figure.value
            )
            if same:
                return True
            continue
        if figure.unit in PERIOD_UNITS or fact.unit in PERIOD_UNITS:
            if figure.unit == fact.unit and figure.value == fact.value:
                return True
            continue
        if figure.unit != fact.unit and "plain" not in (figure.unit, fact.unit):
            continue
        if (figure.unit == "rank") != (fact.unit == "rank"):
            continue
        # Facts are written by Minsheng: a whole number there is exact (a count), not a rounding.
        fact_tolerance = 0.0 if fact.tolerance == 0.5 else fact.tolerance
        room = max(figure.tolerance + fact_tolerance - 1e-9, 1e-9)
        if abs(abs(figure.value) - abs(fact.value)) <= room:
            return True
    return False


def fact_slots(fact_texts: list[str]) -> dict[str, list[Figure]]:
    """Label -> the figures written after it, over the cited facts (``环比 +33.33%`` -> 环比).

    A fact is ``head：label value；label value …``. Labels that say only which period (本期, 上期,
    变化 …) bind a figure only when it follows them directly (``上期为 22 条``), since prose such as
    ``较上期增加 65 条`` states another figure after them (see :func:`slot_label`).
    """
    slots: dict[str, list[Figure]] = {}
    for text in fact_texts:
        _, _, body = text.partition("：")
        for part in body.rstrip("。").split("；"):
            label, _, value = part.strip().partition(" ")
            core = re.sub(r"[（(].*?[)）]", "", label).strip()
            if len(core) >= 2 and value:
                slots.setdefault(core, []).extend(extract_figures(value))
    return {k: v for k, v in slots.items() if v}


def slot_label(sentence: str, figure_text: str, slots: Mapping[str, list[Figure]]) -> str | None:
    """The fact label a figure is stated under: the last one before it in the same clause, if any."""
    at = sentence.find(figure_text)
    if at < 0 or not slots:
        return None
    clause_start = max(sentence.rfind(p, 0, at) for p in CLAUSE_BREAKS) + 1
    clause = sentence[clause_start:at]
    best, best_end = None, -1
    for label in sorted(slots, key=len, reverse=True):
        end = clause.rfind(label)
        if end < 0 or end + len(label) <= best_end:
            continue
        if label in GENERIC_LABELS and not DIRECTLY.fullmatch(clause[end + len(label) :]):
            continue
        best, best_end = label, end + len(label)
    return best


def find_entities(text: str, entities: Collection[str]) -> list[str]:
    """Entity names in ``text``, longest first, without overlaps (广州市 is not also 广州)."""
    found: list[str] = []
    taken = [False] * len(text)
    for name in sorted({e for e in entities if len(e) >= 2}, key=len, reverse=True):
        start = text.find(name)
        while start >= 0:
            end = start + len(name)
            if not any(taken[start:end]):
                found.append(name)
                taken[start:end] = [True] * len(name)
            start = text.find(name, end)
    return found


def check_sentence(
    section: str,
    sentence: str,
    facts: Mapping[str, str],
    documents: Mapping[int, str],
    entities: Collection[str] = (),
    period_fact: str | None = None,
) -> SentenceResult:
    """Verify one sentence (see the module docstring); the reason names the first fault found."""
    cited = cited_ids(sentence)
    figures = extract_figures(sentence)
    body = strip_citations(sentence)
    names = find_entities(body, entities)

    def result(reason: str = "") -> SentenceResult:
        return SentenceResult(section, sentence, len(figures), cited, reason)

    for ref in cited:
        if ref.startswith("F") and ref not in facts:
            return result(f"引用了不存在的事实 [{ref}]")
        if ref.startswith("D") and int(ref[1:]) not in documents:
            return result(f"引用的文档 [{ref}] 不是本期提供的文档")
    if (figures or names) and not cited:
        return result("陈述了数字或对象但未引用事实")
    cited_text = [facts[r] for r in cited if r.startswith("F")]
    cited_text += [documents[int(r[1:])] for r in cited if r.startswith("D")]
    pool = [f for t in cited_text for f in extract_figures(t)]
    slots = fact_slots([facts[r] for r in cited if r.startswith("F")])
    period = extract_figures(period_fact) if period_fact else []
    for fig in figures:
        label = None if fig.unit == "rank" else slot_label(body, fig.text, slots)  # a rank is in the head
        candidates = slots[label] if label else pool
        if not _matches(fig, candidates + (period if fig.unit in PERIOD_UNITS else [])):
            return result(f"数字「{fig.text}」与所引事实不符")
    joined = "\n".join(cited_text)
    for name in names:
        if name not in joined:
            return result(f"「{name}」不在所引事实中")
    return result()


def verify_text(
    text: str,
    facts: Mapping[str, str],
    documents: Mapping[int, str],
    entities: Collection[str] = (),
    period_fact: str | None = None,
    max_failed_share: float = 0.3,
) -> Verification:
    """Check every sentence of ``text``.

    Args:
        text: the model's answer.
        facts: fact id (``F3``) -> the fact's sentence as given to the model.
        documents: document id -> its masked text as given (only this period's documents).
        entities: names to check (categories, regions, channels).
        period_fact: the fact stating the period, where dates and weeks may come from.
        max_failed_share: above this share of failed claim sentences, ``fallback`` is True.
    """
    out = Verification(max_failed_share=max_failed_share)
    for section, sentence in split_sentences(text):
        out.sentences.append(check_sentence(section, sentence, facts, documents, entities, period_fact))
    return out
