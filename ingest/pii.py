"""Finding and masking personal data in Chinese text before it is stored.

Kinds found (checked in this order when candidates overlap):

========  ===========================================================  ======================
kind      what is accepted                                             masked as
========  ===========================================================  ======================
id_card   18-digit 居民身份证号 (real province code and birth date; a     ``110101********1234``
          wrong check digit too: hotline staff mistype), 15-digit old
          numbers (valid date), any 6-20 character number after
          身份证号 / 身份证编号 / 证件编号 / 证件号码
bank_card 13-19 digits, Luhn-valid, with a card-scheme prefix or a     ``6222 **** **** 1234``
          bank word before it, contiguous or in groups of four
mobile    1[3-9]x + 8 digits, optional +86/86/0086; ``-`` or spaces      ``138****5678``
          between at most 4 groups of 2+ digits, or dots (3.4.4)
landline  area code (010, 02x, 0xxx, or in brackets), a dash or         ``0731-****3150``
          spaces, 7-8 digits starting 2-9 (one space or dash inside
          allowed), optional extension
email     local@domain.tld                                             ``z***@example.com``
plate     province + letter + 5 (ordinary, at least 3 digits) or 6     ``粤B***45``
          (new-energy, D/F) characters, optional ``·``; any letter case
name      a common surname + 1-2 characters after 我叫 / 姓名 / 联系人 /   ``张*``
          来电人 / 投诉人 ... (see :mod:`ingest.pii_cues`)
address   house / building / room numbers after 住在 / 家住 / 地址 ...,   ``芙蓉路**号*栋***室``
          or any ``…号…室``; roads and districts stay readable
========  ===========================================================  ======================

Digit runs glued to letters or other digits (order numbers such as ``DD13812345678``), numbers
right after an order/waybill/invoice word (订单号, 快递单号, 发票 ...), amounts (``13800元``,
``¥13812345678``) and decimals are left alone. Service numbers (12345, 95598, 400-) never match the
patterns. The text is expected in :func:`ingest.clean.normalize_text` form (ASCII digits).

:func:`mask_extra` masks the values of a source's ``extra`` mapping the same way, and hides
values under personal keys (phone, name, 身份证, 地址 ...) whole.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ingest import pii_cues

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("id_card", "bank_card", "mobile", "landline", "email", "plate", "name", "address")
MASK = "*"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# fmt: off
_PROVINCE_CODES = frozenset(
    [
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
        "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83",
    ]
)
# fmt: on
# 15-digit numbers were issued before 1999 on the mainland only (no 71/81/82/83).
_MAINLAND_CODES = _PROVINCE_CODES - {"71", "81", "82", "83"}
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01])"
_NB = r"(?<![0-9A-Za-z])"  # no digit or Latin letter glued on the left
_NA = r"(?![0-9A-Za-z])"  # ... or on the right

_ID18_RE = re.compile(
    rf"{_NB}(?P<v>[1-9]\d{{5}}[ -]?(?:18|19|20)\d{{2}}{_MONTH}{_DAY}[ -]?\d{{3}}[0-9Xx]){_NA}"
)
_ID15_RE = re.compile(rf"{_NB}(?P<v>[1-9]\d{{5}}\d{{2}}{_MONTH}{_DAY}\d{{3}}){_NA}")
_CARD_RE = re.compile(
    rf"{_NB}(?P<v>\d{{4}}(?P<sep>[ -])\d{{4}}(?P=sep)\d{{4}}(?:(?P=sep)\d{{4}})?(?:(?P=sep)\d{{1,3}})?"
    rf"|\d{{4}}(?P<sep2>[ -])\d{{6}}(?P=sep2)\d{{5}}|\d{{13,19}}){_NA}"
)
_MOBILE_RE = re.compile(
    rf"{_NB}(?P<prefix>(?:\(?(?:\+|00)?86\)?[ -]?))?(?P<v>1[3-9](?:(?: {{1,3}}| ?- ?|\.)?\d){{9}}){_NA}"
)
_MOBILE_SEP_RE = re.compile(r" ?- ?| {1,3}|\.")
_AREA = r"(?:\(0(?:10|2\d|[3-9]\d{2})\)|0(?:10|2\d|[3-9]\d{2}))"
_LOCAL = r"[2-9]\d{2,3}[ -]?\d{4}"
_LANDLINE_RE = re.compile(
    rf"{_NB}(?P<v>{_AREA}(?: {{0,2}}[\-—] {{0,2}}| {{1,2}})?(?P<local>{_LOCAL})"
    rf"(?:(?:-|转|ext\.?)\d{{1,4}})?){_NA}"
)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9_%+-])(?<![A-Za-z0-9]\.)(?P<v>[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24})(?![A-Za-z0-9-])"
)
_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTER = "[A-HJ-NP-Za-hj-np-z]"  # no I or O; people type plates in lower case too
_PLATE_CH = "[A-HJ-NP-Za-hj-np-z0-9]"
_PLATE_RE = re.compile(
    rf"(?P<v>[{_PLATE_PROVINCES}]{_PLATE_LETTER}(?P<sep>[·・•. ]?)"
    rf"(?P<tail>[DFdf]{_PLATE_CH}\d{{4}}|\d{{5}}[DFdf]|{_PLATE_CH}{{4}}[挂学警港澳]|{_PLATE_CH}{{5}}))(?![0-9A-Za-z])"
)

# Words that make the number right after them an order, waybill, invoice or other reference.
_REFERENCE_BEFORE_RE = re.compile(
    r"(?:订单|单号|运单|快递|物流|编号|流水号|交易号|工单|批次|合同|发票|票号|备案|案号|文号|序列号|条码|"
    r"型号|货号|尾号|批号|凭证|账单号|会员号|学号|工号|No\.?|NO\.?)[号码]?\s*[:：#]?\s*(?:是|为)?\s*$"
)
# Units that make the digits before them an amount or a quantity.
_AMOUNT_AFTER_RE = re.compile(
    r"\s*(?:元|块钱|[万亿千百]元|[万亿]人|美元|港元|欧元|日元|人民币|rmb|RMB|%|％|‰|kg|KG|公斤|吨|平方米|平米|"
    r"㎡|m²|亩|人次|余元|多元|\.\d)"
)
_AMOUNT_BEFORE_RE = re.compile(r"(?:[¥￥$＄]|RMB|rmb|人民币|金额|价格|总价|售价|共计|合计)\s*$")
# "3.13812345678" is a decimal; "2.138-1234-5678" is a list item followed by a number.
_DECIMAL_BEFORE_RE = re.compile(r"\d\.$")
_BANK_WORD_RE = re.compile(r"(?:卡号|银行卡|银行|储蓄卡|信用卡|借记卡|账号|帐号|账户|帐户|收款|转账|户名)")
# Card-scheme prefixes and the lengths they issue: UnionPay and the older domestic debit ranges
# (62, 60, 94/95), Visa, Mastercard, Amex, JCB, Diners.
_CARD_SCHEMES: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = tuple(
    (re.compile(prefix), frozenset(lengths))
    for prefix, lengths in (
        (r"62|60|9[45]", range(16, 20)),
        (r"4", (13, 16, 19)),
        (r"5[1-5]|2[2-7]", (16,)),
        (r"3[47]", (15,)),
        (r"35", range(16, 20)),
        (r"30[0-5]|36|38", (14,)),
    )
)
# An 18-digit number shaped like an ID (province, birth date) that failed the ID check is a
# mistyped ID, not a card, unless a bank word says otherwise.
_ID_SHAPE_RE = re.compile(rf"[1-8]\d{{5}}(?:18|19|20)\d{{2}}{_MONTH}{_DAY}\d{{3}}[0-9Xx]")
# Words that make the number after them an identity-document number, whatever its shape.
_ID_CUE = r"(?:身份证|证件|居民身份)(?:号码|编号|号|码)?"
_ID_CUE_BEFORE_RE = re.compile(rf"{_ID_CUE}\s*[:：#]?\s*(?:是|为)?\s*$")
_ID_CUE_TOKEN_RE = re.compile(
    rf"{_ID_CUE}\s*[:：#]?\s*(?:是|为)?\s*(?P<v>(?=[0-9A-Za-z]*\d{{4}})[0-9A-Za-z]{{6,20}})(?![0-9A-Za-z*])"
)


def _card_scheme_ok(digits: str) -> bool:
    if len(digits) == 18 and _ID_SHAPE_RE.fullmatch(digits):
        return False
    return any(p.match(digits) and len(digits) in lengths for p, lengths in _CARD_SCHEMES)


@dataclass(frozen=True)
class PiiMatch:
    """A piece of personal data found in a text."""

    kind: str
    start: int
    end: int
    text: str

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)`` offsets in the searched text."""
        return self.start, self.end


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit() or ch in "Xx")


def is_valid_id18(number: str) -> bool:
    """Check an 18-character 居民身份证号 (GB 11643-1999): province code, birth date, check digit."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _PROVINCE_CODES:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_ok(number: str) -> bool:
    """True when a digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _reference_before(text: str, start: int) -> bool:
    if _ID_CUE_BEFORE_RE.search(text, max(0, start - 12), start):
        return False  # 身份证编号 / 证件编号: 编号 here introduces an ID, not an order
    return bool(_REFERENCE_BEFORE_RE.search(text, max(0, start - 12), start))


def _glued_to_group(text: str, start: int, value: str) -> bool:
    """A spaced or dashed value right after a group of 1-4 digits is the tail of a longer number.

    ``6222 0740 2917 6191`` holds no landline ``0740 2917 6191``; in ``0731-82623150 138 1234 5678``
    the mobile follows a whole number and stands on its own.
    """
    if start < 2 or text[start - 1] not in " -" or not any(ch in " -." for ch in value):
        return False
    run = 0
    while run < 5 and start - 2 - run >= 0 and text[start - 2 - run].isdigit():
        run += 1
    return 1 <= run <= 4


def _amount_around(text: str, start: int, end: int) -> bool:
    if _AMOUNT_AFTER_RE.match(text, end) or _AMOUNT_BEFORE_RE.search(text, max(0, start - 6), start):
        return True
    return text[start:end].isdigit() and bool(_DECIMAL_BEFORE_RE.search(text, max(0, start - 2), start))


def _find_id(text: str) -> Iterable[PiiMatch]:
    for m in _ID18_RE.finditer(text):
        # A wrong check digit is still an ID (staff mistype them); the province code must exist.
        if _digits(m.group("v"))[:2] in _PROVINCE_CODES and not _reference_before(text, m.start()):
            yield PiiMatch("id_card", m.start("v"), m.end("v"), m.group("v"))
    for m in _ID_CUE_TOKEN_RE.finditer(text):
        yield PiiMatch("id_card", m.start("v"), m.end("v"), m.group("v"))
    for m in _ID15_RE.finditer(text):
        if (
            m.group("v")[:2] in _MAINLAND_CODES
            and not _reference_before(text, m.start())
            and not _amount_around(text, m.start(), m.end())
        ):
            yield PiiMatch("id_card", m.start("v"), m.end("v"), m.group("v"))


def _find_card(text: str) -> Iterable[PiiMatch]:
    for m in _CARD_RE.finditer(text):
        digits = _digits(m.group("v"))
        if not 13 <= len(digits) <= 19 or not luhn_ok(digits):
            continue
        if _reference_before(text, m.start()) or _amount_around(text, m.start(), m.end()):
            continue
        bank_context = bool(_BANK_WORD_RE.search(text, max(0, m.start() - 12), m.start()))
        if bank_context or _card_scheme_ok(digits):
            yield PiiMatch("bank_card", m.start("v"), m.end("v"), m.group("v"))


def _mobile_groups_ok(value: str) -> bool:
    """Separated mobiles: dots only as 3.4.4; otherwise at most 4 groups of 2+ digits, one of 4+."""
    if value.isdigit():
        return True
    groups = _MOBILE_SEP_RE.split(value)
    if "." in value:
        return [len(g) for g in groups] == [3, 4, 4]
    return len(groups) <= 4 and min(map(len, groups)) >= 2 and max(map(len, groups)) >= 4


def _find_mobile(text: str) -> Iterable[PiiMatch]:
    for m in _MOBILE_RE.finditer(text):
        if not _mobile_groups_ok(m.group("v")) or _glued_to_group(text, m.start(), m.group(0)):
            continue
        if _reference_before(text, m.start()) or _amount_around(text, m.start(), m.end()):
            continue
        yield PiiMatch("mobile", m.start("v"), m.end("v"), m.group("v"))


def _find_landline(text: str) -> Iterable[PiiMatch]:
    for m in _LANDLINE_RE.finditer(text):
        if _glued_to_group(text, m.start(), m.group("local")):
            continue
        if _reference_before(text, m.start()) or _amount_around(text, m.start(), m.end()):
            continue
        yield PiiMatch("landline", m.start("v"), m.end("v"), m.group("v"))


def _find_email(text: str) -> Iterable[PiiMatch]:
    for m in _EMAIL_RE.finditer(text):
        yield PiiMatch("email", m.start("v"), m.end("v"), m.group("v"))


def _find_name(text: str) -> Iterable[PiiMatch]:
    for start, end in pii_cues.find_names(text):
        yield PiiMatch("name", start, end, text[start:end])


def _find_address(text: str) -> Iterable[PiiMatch]:
    for start, end in pii_cues.find_addresses(text):
        yield PiiMatch("address", start, end, text[start:end])


def _find_plate(text: str) -> Iterable[PiiMatch]:
    for m in _PLATE_RE.finditer(text):
        tail = m.group("tail")
        if len(tail) == 5 and sum(ch.isdigit() for ch in tail) < 3:
            continue  # "新ABCDE"-like words; real ordinary plates are mostly digits
        yield PiiMatch("plate", m.start("v"), m.end("v"), m.group("v"))


# A necessary condition for each kind, tested before its finder (most texts hold no personal data):
# every number kind has a run of at least four digits, an e-mail an "@", a plate a province
# character followed by a letter, a name its cue, an address a door-plate number.
_DIGIT_RUN_RE = re.compile(r"\d{4}")
_PLATE_START_RE = re.compile(rf"[{_PLATE_PROVINCES}]{_PLATE_LETTER}")
_ADDRESS_GATE_RE = re.compile(r"(?:\d|[一二三四五六七八九十两零〇])(?:号|栋|幢|座|单元|楼|层|室|户|组|弄|-)")
_GATES: dict[str, Callable[[str], object]] = {
    "id_card": _DIGIT_RUN_RE.search,
    "bank_card": _DIGIT_RUN_RE.search,
    "mobile": _DIGIT_RUN_RE.search,
    "landline": _DIGIT_RUN_RE.search,
    "email": lambda text: "@" in text,
    "plate": _PLATE_START_RE.search,
    "name": pii_cues.NAME_CUE_RE.search,
    "address": _ADDRESS_GATE_RE.search,
}

_FINDERS: dict[str, Callable[[str], Iterable[PiiMatch]]] = {
    "id_card": _find_id,
    "bank_card": _find_card,
    "mobile": _find_mobile,
    "landline": _find_landline,
    "email": _find_email,
    "plate": _find_plate,
    "name": _find_name,
    "address": _find_address,
}


def find_pii(text: str, kinds: Iterable[str] | None = None) -> list[PiiMatch]:
    """Find personal data in ``text``.

    Args:
        text: Normalised text.
        kinds: Restrict to these kinds (default: all of :data:`KINDS`).

    Returns:
        Non-overlapping matches sorted by position; where candidates overlap, the longer one wins
        and, at equal length, the kind listed first in :data:`KINDS`.
    """
    if not text:
        return []
    selected = set(KINDS if kinds is None else kinds)
    gates: dict[Callable[[str], object], bool] = {}
    wanted = [k for k in KINDS if k in selected and gates.setdefault(_GATES[k], bool(_GATES[k](text)))]
    candidates = [match for kind in wanted for match in _FINDERS[kind](text)]
    if not candidates:
        return []
    rank = {kind: i for i, kind in enumerate(KINDS)}
    candidates.sort(key=lambda m: (-(m.end - m.start), rank[m.kind], m.start))
    chosen: list[PiiMatch] = []
    for cand in candidates:
        if all(cand.end <= c.start or cand.start >= c.end for c in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda m: m.start)


def _mask_positions(value: str, keep_head: int, keep_tail: int, *, alnum: bool = False) -> str:
    """Mask every digit (or letter/digit) except the first ``keep_head`` and last ``keep_tail``."""
    positions = [i for i, ch in enumerate(value) if (ch.isalnum() if alnum else ch.isdigit() or ch in "Xx")]
    hidden = set(positions[keep_head : len(positions) - keep_tail])
    return "".join(MASK if i in hidden else ch for i, ch in enumerate(value))


_LANDLINE_PARTS_RE = re.compile(rf"({_AREA}[ \-—]*)({_LOCAL})(.*)")


def _mask_landline(value: str) -> str:
    match = _LANDLINE_PARTS_RE.fullmatch(value)
    if match is None:  # cannot happen for values found by _LANDLINE_RE; mask all but 4 digits
        return _mask_positions(value, 0, 4)
    area, local, extension = match.groups()
    return area + _mask_positions(local, 0, 4) + extension


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[0]}{MASK * 3}@{domain}"


def _mask_plate(value: str) -> str:
    return value[:2] + _mask_positions(value[2:], 0, 2, alnum=True)


_MASKERS: dict[str, Callable[[str], str]] = {
    "id_card": lambda v: (
        _mask_positions(v, 6, 4)
        if len(_digits(v)) == 18
        else _mask_positions(v, 6, 3)
        if len(v) == 15 and v.isdigit()
        else _mask_positions(v, 0, 4, alnum=True)
    ),
    "bank_card": lambda v: _mask_positions(v, 4, 4),
    "mobile": lambda v: _mask_positions(v, 3, 4),
    "landline": _mask_landline,
    "email": _mask_email,
    "plate": _mask_plate,
    "name": pii_cues.mask_name,
    "address": pii_cues.mask_address,
}


def mask_match(match: PiiMatch) -> str:
    """The readable masked form of one match (e.g. ``138****5678``)."""
    return _MASKERS[match.kind](match.text)


def mask_pii(text: str, kinds: Iterable[str] | None = None) -> str:
    """Return ``text`` with every personal datum found by :func:`find_pii` masked in place."""
    matches = find_pii(text, kinds)
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for match in matches:
        parts.append(text[pos : match.start])
        parts.append(mask_match(match))
        pos = match.end
    parts.append(text[pos:])
    return "".join(parts)


def hash_author(name: str, key: str | bytes, length: int = 32) -> str:
    """A keyed, truncated HMAC-SHA256 of an author name or id, so authors are countable, not named.

    Args:
        name: The author's name or id as the source gives it (surrounding spaces are ignored).
        key: The secret from settings (``app.author_hash_key``); must not be empty.
        length: Hex characters kept (8-64).
    """
    if not key:
        raise ValueError("hash_author needs a non-empty key")
    if not 8 <= length <= 64:
        raise ValueError(f"length must be 8..64, got {length}")
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    digest = hmac.new(key_bytes, name.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:length]


# Keys whose whole value is personal, compared after lower-casing and dropping "_", "-" and spaces.
PERSONAL_KEYS = frozenset(
    {
        "phone",
        "mobile",
        "tel",
        "telephone",
        "idcard",
        "name",
        "address",
        "姓名",
        "电话",
        "手机",
        "身份证",
        "地址",
    }
)
_KEY_SPLIT_RE = re.compile(r"[_\-\s.]+|(?<=[a-z])(?=[A-Z])")
_MASKED_WHOLE = MASK * 3


def is_personal_key(key: object) -> bool:
    """True for keys like ``phone``, ``contact_phone``, ``userName``, ``身份证号``, ``联系电话``."""
    text = str(key).strip()
    if not text:
        return False
    if "".join(_KEY_SPLIT_RE.split(text)).lower() in PERSONAL_KEYS:
        return True
    if any(word in text for word in ("姓名", "电话", "手机", "身份证", "地址")):
        return True
    parts = [p.lower() for p in _KEY_SPLIT_RE.split(text) if p]
    # contact_phone, home_address, id_card, user_name; a lone "filename" or "source" is not personal
    return len(parts) > 1 and (parts[-1] in PERSONAL_KEYS or "".join(parts[-2:]) in PERSONAL_KEYS)


def mask_extra(extra: Any) -> Any:
    """Mask a source's ``extra`` value (dicts and lists recursively) like the text it comes with.

    Strings are masked with :func:`mask_pii`; the value under a personal key (see
    :func:`is_personal_key`) is replaced whole by ``***`` whatever its type (``None`` stays). Other
    values (numbers, booleans) are kept. The input is not modified.
    """
    if isinstance(extra, str):
        return mask_pii(_to_ascii_digits(extra))
    if isinstance(extra, dict):
        return {
            k: (_MASKED_WHOLE if v is not None else None) if is_personal_key(k) else mask_extra(v)
            for k, v in extra.items()
        }
    if isinstance(extra, (list, tuple)):
        return [mask_extra(v) for v in extra]
    return extra


_FULLWIDTH_DIGITS = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}


def _to_ascii_digits(text: str) -> str:
    """Extra values are not normalised like the text: fold full-width digits so numbers are seen."""
    return text.translate(_FULLWIDTH_DIGITS) if any("０" <= ch <= "９" for ch in text) else text
