"""Finding a Chinese (CJK) font on the system for charts and PDFs.

Charts (matplotlib) and the PDF (reportlab) must draw Chinese, and nothing may be downloaded at
run time, so the font comes from the system: Debian's ``fonts-wqy-microhei`` is preferred (a
TrueType collection that both matplotlib and reportlab can embed), then other CJK families. PDF
embedding needs TrueType outlines (``glyf``); CFF-based fonts such as Noto Sans CJK are used for
charts only. No font at all raises :class:`CjkFontError` saying what to install.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Family names in order of preference.
PREFERRED_FAMILIES: tuple[str, ...] = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
)
PROBE_TEXT = "总览热点预警"  # glyphs every candidate must hold
INSTALL_HINT = "install a CJK font, e.g. `apt-get install -y fonts-wqy-microhei`"


class CjkFontError(RuntimeError):
    """No usable Chinese font was found on this machine."""


@dataclass(frozen=True)
class CjkFont:
    """A font file (and sub-font index inside a .ttc collection) able to draw Chinese.

    Attributes:
        family: the family name matplotlib knows it by.
        path: the font file.
        index: the face inside a TrueType collection (0 for plain .ttf files).
        truetype: True when the outlines are TrueType (``glyf``), so reportlab can embed it.
    """

    family: str
    path: Path
    index: int
    truetype: bool


def _inspect(path: str, index: int) -> tuple[bool, bool]:
    """(holds the probe glyphs, has TrueType outlines) for one face of a font file."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=index, lazy=True) as font:
            cmap = font.getBestCmap() or {}
            return all(ord(ch) in cmap for ch in PROBE_TEXT), "glyf" in font
    except Exception as exc:  # noqa: BLE001 - an unreadable font is just not a candidate
        log.debug("skipping font %s#%d: %s", path, index, exc)
        return False, False


def _candidates() -> list[CjkFont]:
    from matplotlib import font_manager

    entries = list(font_manager.fontManager.ttflist)
    if not any(e.name in PREFERRED_FAMILIES for e in entries):
        # The font cache predates the font's installation: scan the system folders once.
        for path in font_manager.findSystemFonts():
            if any(k in path.lower() for k in ("wqy", "cjk", "droid", "uming", "ukai", "sourcehan")):
                try:
                    font_manager.fontManager.addfont(path)
                except Exception as exc:  # noqa: BLE001
                    log.debug("cannot add font %s: %s", path, exc)
        entries = list(font_manager.fontManager.ttflist)
    found: list[CjkFont] = []
    for family in PREFERRED_FAMILIES:
        for entry in entries:
            if entry.name != family:
                continue
            index = int(getattr(entry, "index", 0) or 0)
            ok, truetype = _inspect(entry.fname, index)
            if ok:
                found.append(CjkFont(family, Path(entry.fname), index, truetype))
    return found


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> CjkFont:
    """The preferred CJK font for charts (any outline format).

    Raises:
        CjkFontError: when the system has no font that draws Chinese.
    """
    found = _candidates()
    if not found:
        raise CjkFontError(f"no Chinese font found for report charts; {INSTALL_HINT}")
    return found[0]


@functools.lru_cache(maxsize=1)
def find_pdf_font() -> CjkFont:
    """The preferred CJK font reportlab can embed (TrueType outlines).

    Raises:
        CjkFontError: when no TrueType CJK font is installed.
    """
    for font in _candidates():
        if font.truetype:
            return font
    raise CjkFontError(f"no TrueType Chinese font found for the PDF report; {INSTALL_HINT}")
