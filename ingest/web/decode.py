"""Decoding of HTML bytes: the declared charset, the meta tag, then detection; never mojibake.

Order of evidence:

1. a byte-order mark;
2. strict UTF-8 when the bytes are valid UTF-8 and not plain ASCII: GBK or Big5 text is practically
   never valid UTF-8, while pages re-saved as UTF-8 often keep a stale ``gb2312`` meta tag;
3. the charset of the HTTP ``Content-Type`` header, then the ``<meta charset>`` /
   ``<meta http-equiv="Content-Type">`` tag, each decoded strictly (GBK and GB2312 are read as
   GB18030, their superset);
4. detection by ``charset-normalizer``.

If none of these decodes the page without errors it raises :class:`UndecodableError`: the
collector skips and counts such a page instead of storing replacement characters.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

_META_RE = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "utf8": "utf-8",
}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UndecodableError(ValueError):
    """No charset decodes the page cleanly."""


@dataclass(frozen=True)
class DecodedPage:
    """Decoded text and the charset that decoded it (``how``: bom / utf-8 / header / meta / detected)."""

    text: str
    charset: str
    how: str


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    try:
        codecs.lookup(_ALIASES.get(name, name))
    except LookupError:
        return None
    return _ALIASES.get(name, name)


def meta_charset(data: bytes) -> str | None:
    """The charset named by the first ``<meta ... charset=...>`` in the first 4 KB."""
    match = _META_RE.search(data[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def decode_html(data: bytes, header_charset: str | None = None, forced: str | None = None) -> DecodedPage:
    """Decode an HTML page; raises :class:`UndecodableError` rather than return mojibake."""
    forced_codec = _codec(forced)
    if forced_codec:
        try:
            return DecodedPage(data.decode(forced_codec), forced_codec, "forced")
        except UnicodeDecodeError as exc:
            raise UndecodableError(f"not valid {forced_codec}: {exc}") from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            return DecodedPage(data.decode(name, errors="strict"), name, "bom")
    if data.isascii():
        return DecodedPage(data.decode("ascii"), "ascii", "ascii")
    try:
        return DecodedPage(data.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    declared: list[tuple[str, str | None]] = [("header", header_charset), ("meta", meta_charset(data))]
    for how, declared_name in declared:
        codec = _codec(declared_name)
        if codec and codec != "utf-8":
            try:
                return DecodedPage(data.decode(codec), codec, how)
            except UnicodeDecodeError:
                continue
    best = from_bytes(data, cp_isolation=["gb18030", "big5hkscs", "utf_16"]).best()
    if best is None:
        best = from_bytes(data).best()
    if best is not None and best.encoding:
        detected = _codec(best.encoding) or best.encoding
        try:
            return DecodedPage(data.decode(detected), detected, "detected")
        except (UnicodeDecodeError, LookupError):
            pass
    raise UndecodableError(
        f"no charset decodes the page (header {header_charset!r}, meta {meta_charset(data)!r}, detection failed)"
    )
