"""Escaping of untrusted text for Streamlit elements that interpret Markdown."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&])")


def escape_md(text: object) -> str:
    """Escape untrusted text for elements that interpret Markdown (headers, captions, metric labels).

    Every Markdown, directive (``:red[...]``), LaTeX (``$``) and HTML character is backslash-escaped,
    and line breaks collapse to spaces, so the text shows literally.
    """
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)
