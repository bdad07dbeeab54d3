"""Tag texts with the Chinese region (province, city, district) they talk about.

Real place names are found by ``cpca`` (it ships the national administrative-division table, so
it works offline). Province names come out as the full official names that China GeoJSON files
use for the choropleth ("广东省", "北京市", "广西壮族自治区", "香港特别行政区").

The 问政 corpus masks its places: "西地省" is the province, "A市" a city, "A1区"/"K9县"/"C4市" a
district or county-level city whose parent city is the one with the same letter ("A市", "K市",
"C市"). A masked name found in a text wins over a real one, and implies province "西地省".

Heuristics on top of cpca, to keep precision on social-media text:

* a city or county-level city matched by its bare name only ("开封", "安康", "东方") whose bare name
  is also a common word (``AMBIGUOUS_BARE_NAMES``) is ignored unless the text also names its
  province or spells the full name ("开封市");
* a bare district name shared by several cities ("朝阳区") resolves inside the hinted province
  when a ``meta_hint`` is given (e.g. the source's jurisdiction), and otherwise to the most
  populous match in ``DEFAULT_DISTRICT_CHOICE``;
* one-character names in cpca's table ("芒" for 芒市, the placeholder "县" of Chongqing's
  counties) only count with their province named, so "芒果" and "县城" are no places.

Most posts name no place at all. Only the texts holding the first two characters of some
gazetteer name (a set lookup per character pair, cheaper than cpca's own automaton) go through
cpca, and one regex pass over the whole batch finds the few with masked names.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import sys
import types
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

#: Names these rules; stored with every document's tags, so changing them re-tags old documents.
VERSION = "regions-2"
MASKED_PROVINCE = "西地省"
MAX_CHARS = 2000  # places are named early; cap the scan of very long bodies

# cpca "city" values that stand for a municipality's or a province's directly-run districts.
_MUNICIPAL_CITY = {"市辖区", "县"}
MUNICIPALITIES = frozenset({"北京市", "上海市", "天津市", "重庆市"})
_DIRECT_COUNTY = {"省直辖县级行政区划", "自治区直辖县级行政区划"}

#: Bare city / county-level-city names that are also ordinary words or famous non-place names.
AMBIGUOUS_BARE_NAMES = frozenset(
    [
        "三明",
        "开封",
        "安康",
        "日照",
        "中山",
        "东方",
        "大同",
        "普洱",
        "白银",
        "来宾",
        "朝阳",
        "黄山",
        "北海",
        "长治",
        "宁德",
        "德州",
        "四平",
        "武威",
        "山南",
        "海东",
        "海北",
        "海西",
        "玉树",
        "吉安",
        "通化",
        "白山",
        "丽水",
        "保山",
        "百色",
        "河源",
        "阳春",
        "龙井",
        "庐山",
        "井冈山",
        "峨眉山",
        "武夷山",
        "五指山",
        "安达",
        "永安",
        "江山",
        "开平",
        "台山",
        "鹤山",
        "四会",
        "福安",
        "乐平",
        "高安",
        "明光",
        "天长",
        "安国",
        "新乐",
        "三河",
        "河间",
        "清河",
        "龙港",
        "龙泉",
        "峨眉",
        "晋江",
        "长乐",
        "广安",
        "永康",
        "龙口",
    ]
)

#: Most populous choice for district names shared by several cities (cpca's ``umap``).
DEFAULT_DISTRICT_CHOICE: dict[str, str] = {
    "朝阳区": "110105",  # Beijing, not Changchun
    "西湖区": "330106",  # Hangzhou, not Nanchang
    "鼓楼区": "320106",  # Nanjing
    "和平区": "120101",  # Tianjin
    "河东区": "120102",
    "河西区": "120103",
    "南开区": "120104",
    "新华区": "130105",  # Shijiazhuang
    "城关区": "620102",  # Lanzhou
    "江北区": "500105",  # Chongqing
    "普陀区": "310107",  # Shanghai
    "长安区": "130102",  # Shijiazhuang
    "白云区": "440111",  # Guangzhou
    "海州区": "320706",
    "铁西区": "210106",  # Shenyang
    "青山区": "420107",  # Wuhan
    "城中区": "630103",
    "市中区": "370103",  # Jinan
    "宝山区": "310113",  # Shanghai
}

_MASKED_RE = re.compile(r"西地省|(?<![A-Za-z0-9])([A-Z])(\d{0,2})(市|区|县)")


class RegionError(RuntimeError):
    """The gazetteer could not be loaded."""


@dataclass(frozen=True)
class Region:
    """Where a text is about; any level may be unknown (``None``)."""

    province: str | None = None
    city: str | None = None
    district: str | None = None

    @property
    def depth(self) -> int:
        """Number of known levels (0 to 3)."""
        return sum(x is not None for x in (self.province, self.city, self.district))


EMPTY_REGION = Region()


@lru_cache(maxsize=1)
def _load_cpca() -> Any:
    """Import cpca once; it reads its table through ``pkg_resources``, gone from new setuptools."""
    try:
        import pkg_resources  # noqa: F401

        shimmed = False
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_stream = lambda pkg, name: importlib.resources.files(pkg).joinpath(name).open("rb")  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
        shimmed = True
    try:
        import cpca
    except Exception as exc:  # pragma: no cover - broken install
        raise RegionError(f"cannot load the cpca gazetteer: {exc}") from exc
    finally:
        if shimmed:
            sys.modules.pop("pkg_resources", None)
    return cpca


def _masked_region(text: str) -> Region:
    province = city = district = None
    for match in _MASKED_RE.finditer(text):
        if match.group(0) == MASKED_PROVINCE:
            province = MASKED_PROVINCE
            continue
        letter, digits, suffix = match.groups()
        if not digits and suffix == "市":
            if city is None:
                city = f"{letter}市"
        elif digits and district is None and (city is None or city == f"{letter}市"):
            district = f"{letter}{digits}{suffix}"
            city = city or f"{letter}市"
        if city and district:
            break
    if city or district:
        province = MASKED_PROVINCE
    return Region(province, city, district)


def _is_bare_ambiguous(text: str, name: str | None, pos: int) -> bool:
    if name is None or pos < 0:
        return False
    if text.startswith(name, pos):
        return False  # full name spelt out ("开封市")
    bare = re.sub(r"(市|地区|自治州|盟)$", "", name)
    return len(bare) < 2 or bare in AMBIGUOUS_BARE_NAMES


def _row_to_region(text: str, row: dict[str, Any]) -> Region:
    def val(key: str) -> str | None:
        v = row.get(key)
        return v if isinstance(v, str) and v else None

    province, city, district = val("省"), val("市"), val("区")
    if province is None:
        return EMPTY_REGION
    prov_pos = int(row.get("省_pos", -1))
    city_pos = int(row.get("市_pos", -1))
    dist_pos = int(row.get("区_pos", -1))
    if prov_pos < 0:
        # Only a bare city or county-level city name matched: drop it when it is a common word.
        if dist_pos < 0 and _is_bare_ambiguous(text, city, city_pos):
            return EMPTY_REGION
        if city_pos < 0 and _is_bare_ambiguous(text, district, dist_pos):
            return EMPTY_REGION
        if dist_pos < 0 and city in _MUNICIPAL_CITY:
            return EMPTY_REGION  # "县" or "市辖区" alone: a common word, not Chongqing
    if city in _MUNICIPAL_CITY or (city is None and province in MUNICIPALITIES):
        city = province
    elif city in _DIRECT_COUNTY:
        city = None
    return Region(province, city, district)


def _hit_texts(ends: Iterable[int], starts: Sequence[int]) -> set[int]:
    """Indices of the texts holding the given match end offsets of their ``"\\n"``-joined batch."""
    hits: set[int] = set()
    next_start = -1  # matches come in text order: skip the lookup while still in the same text
    for end in ends:
        if end >= next_start:
            i = bisect_right(starts, end) - 1
            hits.add(i)
            next_start = starts[i + 1] if i + 1 < len(starts) else sys.maxsize
    return hits


def _batch_offsets(texts: Sequence[str]) -> tuple[str, list[int]]:
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    return "\n".join(texts), starts


@lru_cache(maxsize=1)
def _gazetteer_keys() -> tuple[frozenset[tuple[str, str]], frozenset[str]] | None:
    """First two characters of every name cpca's automaton knows, and its one-character names."""
    automaton = getattr(getattr(_load_cpca(), "matcher", None), "ac", None)
    if automaton is None or not hasattr(automaton, "keys"):  # pragma: no cover - another cpca layout
        return None
    keys = [str(k) for k in automaton.keys()]  # noqa: SIM118 - an Automaton, not a dict
    return frozenset((k[0], k[1]) for k in keys if len(k) > 1), frozenset(k for k in keys if len(k) == 1)


def _gazetteer_candidates(texts: Sequence[str]) -> list[int]:
    """Indices of the texts that may contain a gazetteer name (all when cpca's table is unreadable).

    A name can only occur where its first two characters do (or its only one), so the others get
    the empty row cpca would give them. Set lookups in C: cheaper than cpca's own automaton.
    """
    keys = _gazetteer_keys()
    if keys is None:  # pragma: no cover - another cpca layout
        return list(range(len(texts)))
    pairs, singles = keys
    return [
        i
        for i, t in enumerate(texts)
        if not (pairs.isdisjoint(zip(t, t[1:], strict=False)) and singles.isdisjoint(t))
    ]


def _cpca_regions(texts: Sequence[str]) -> list[Region]:
    clipped = [(t or "")[:MAX_CHARS] for t in texts]
    out = [EMPTY_REGION] * len(clipped)
    todo = _gazetteer_candidates(clipped) if clipped else []
    if todo:
        frame = _load_cpca().transform(
            [clipped[i] for i in todo], pos_sensitive=True, umap=DEFAULT_DISTRICT_CHOICE
        )
        for i, row in zip(todo, frame.to_dict("records"), strict=True):
            out[i] = _row_to_region(clipped[i], row)
    return out


def _masked_regions(texts: Sequence[str]) -> list[Region]:
    """:func:`_masked_region` of each text; one regex pass over the batch finds the few with any."""
    out = [EMPTY_REGION] * len(texts)
    joined, starts = _batch_offsets(texts)  # a newline is no letter or digit for the look-behind
    for i in _hit_texts((m.end() - 1 for m in _MASKED_RE.finditer(joined)), starts):
        out[i] = _masked_region(texts[i])
    return out


def _merge_hint(text_region: Region, hint_region: Region, combined: Region) -> Region:
    """Pick between the text's own region and the one found with the hint as context."""
    if text_region.depth == 0:
        return hint_region
    if hint_region.province is None:
        return text_region
    if combined.province == hint_region.province and combined.depth >= text_region.depth:
        return combined
    return text_region


def tag_regions(texts: Sequence[str], hints: Sequence[str | None] | None = None) -> list[Region]:
    """Tag many texts at once (one cpca pass over all of them).

    Args:
        texts: the texts (title + body is best).
        hints: optional per-text metadata naming a place, e.g. the source's jurisdiction
            ("广东省", "西地省A市"); used to fill missing levels and to disambiguate bare district
            names. A text that names a place in another province keeps its own.

    Returns:
        One :class:`Region` per text, in order; unknown levels are ``None``.
    """
    texts = ["" if t is None else str(t) for t in texts]
    if hints is None:
        hints = [None] * len(texts)
    if len(hints) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(hints)} hints")

    masked = _masked_regions(texts)  # a masked region always has its province
    real = _cpca_regions([t if m.province is None else "" for t, m in zip(texts, masked, strict=True)])
    out = [r if m.province is None else m for m, r in zip(masked, real, strict=True)]

    hinted = [i for i, h in enumerate(hints) if h]
    if hinted:
        hint_texts = [str(hints[i]) for i in hinted]
        hint_masked = _masked_regions(hint_texts)
        hint_real = _cpca_regions(hint_texts)
        combined = _cpca_regions([f"{hint_texts[j]}，{texts[i]}" for j, i in enumerate(hinted)])
        for j, i in enumerate(hinted):
            hint = hint_masked[j]
            if hint.depth:
                cur = out[i]
                if cur.depth == 0:
                    out[i] = hint
                elif cur.province == MASKED_PROVINCE:
                    city = cur.city or hint.city
                    district = cur.district or (hint.district if city == hint.city else None)
                    out[i] = Region(MASKED_PROVINCE, city, district)
                # a real place named in the text wins over a masked hint
            else:
                out[i] = _merge_hint(out[i], hint_real[j], combined[j])
    return out


tag_regions.version = VERSION  # type: ignore[attr-defined]  # read by nlp.pipeline.Tagger


def tag_region(text: str, meta_hint: str | None = None) -> Region:
    """Tag one text; see :func:`tag_regions` (prefer the batch call for many texts)."""
    return tag_regions([text], [meta_hint])[0]
