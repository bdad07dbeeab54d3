"""Measuring PII masking on real sentences with planted values (the harness of ``bench/pii.py``).

Real carrier sentences (TIPDM 问政 messages and replies, SMP2020 Weibo posts, read in place from the
shared corpora) get one planted value each: a generated, valid personal datum (positive) or a hard
negative. A positive counts as found when one match covers its core; a negative is a false positive
when any match touches it.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.clean import normalize_text
from ingest.pii import find_pii, id_check_char, luhn_ok
from kernel.corpora import shared_data_dir

# fmt: off
REGIONS = [
    "110101", "110105", "110108", "120101", "130102", "130503", "140105", "150102", "210102", "220102", "230103",
    "310101", "310104", "310115", "320102", "320583", "330106", "330203", "340104", "350102", "350203", "360102",
    "370102", "370203", "410105", "420106", "430102", "430104", "430111", "430602", "431002", "440106", "440305",
    "440604", "450103", "460105", "500103", "510104", "520102", "530102", "540102", "610113", "620102", "630102",
    "640104", "650102",
]
# fmt: on
# fmt: off
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "170", "171", "173", "175", "176", "177",
    "178", "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
]
# fmt: on
# fmt: off
AREA_CODES = [
    "010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0311", "0371",
    "0512", "0571", "0591", "0731", "0735", "0738", "0745", "0755",
]
# fmt: on
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# fmt: off
EMAIL_DOMAINS = [
    "qq.com", "163.com", "126.com", "sina.com", "gmail.com", "foxmail.com",
    "outlook.com", "example.gov.cn", "hnu.edu.cn",
]
# fmt: on
# fmt: off
NAMES = [
    "zhangsan", "lisi", "wangwu", "zhaoliu", "liuyang", "chenjing", "yangfan", "huanglei",
    "zhouqi", "wuhao", "xuli", "sunmei",
]
# fmt: on

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏"
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国文辉鹏飞俊峰红梅宇浩晨阳思雨欣怡子涵"
DISTRICTS = ("长沙市岳麓区", "A市A4区", "开福区", "雨花区", "宁乡市玉潭镇", "天心区", "B市B2区", "")
ROADS = ("麓山南路", "芙蓉中路", "人民东路", "五一大道", "东二环", "韶山北路", "书院路", "劳动西路")
ESTATES = ("", "", "幸福小区", "金色家园", "万科城", "保利花园", "")

LEADS: dict[str, Sequence[str]] = {
    "id_card": ("身份证号：", "身份证号码", "本人身份证号为", "证件号 ", "", "身份证"),
    "id_card_typo": ("身份证号：", "身份证号码", "身份证编号", "证件编号：", "", "身份证"),
    "bank_card": ("银行卡号：", "卡号", "工商银行账号 ", "转账到", "", "收款账户："),
    "mobile": ("手机号", "联系电话：", "电话 ", "请拨打", "", "微信同号", "tel:"),
    "landline": ("座机", "联系电话：", "办公电话 ", "请致电", "", "电话"),
    "email": ("邮箱 ", "邮箱：", "发邮件到", "", "Email: "),
    "plate": ("车牌号", "车牌", "一辆", "", "车号："),
    "name": ("我叫", "联系人：", "姓名：", "投诉人", "来电人", "本人名叫", "举报人:", "联系人 "),
    "address": ("家住", "住在", "住址：", "现住", "家庭地址：", "居住在"),
    "room_address": ("", "", "反映", "楼上"),
}
CUE_KINDS = ("name", "address", "room_address")
CUE_NEGATIVES = ("name_cue_no_name", "numbered_not_address")
# The kind a positive category must be found as (categories are kinds unless listed).
KIND_OF = {"id_card_typo": "id_card", "room_address": "address"}


@dataclass(frozen=True)
class PiiCase:
    """A carrier sentence with one planted value; ``kind`` is None for a hard negative."""

    text: str
    start: int  # the core span that must be masked (positives) or left alone (negatives)
    end: int
    kind: str | None
    category: str


# --- positives: (surface, core start, core end) -------------------------------------------------


def gen_id_card(rng: random.Random) -> tuple[str, int, int]:
    """A valid 18-digit ID (some with X, some lower-case x), or a 15-digit old one."""
    birth = f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    if rng.random() < 0.1:
        value = rng.choice(REGIONS) + birth[2:] + f"{rng.randint(0, 999):03d}"
    else:
        first17 = rng.choice(REGIONS) + birth + f"{rng.randint(0, 999):03d}"
        value = first17 + id_check_char(first17)
        if value.endswith("X") and rng.random() < 0.3:
            value = value[:-1] + "x"
    return value, 0, len(value)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return next(body + d for d in string.digits if luhn_ok(body + d))


def gen_bank_card(rng: random.Random) -> tuple[str, int, int]:
    """A Luhn-valid UnionPay (62, 16/19 digits), Visa or Mastercard number, grouped or not."""
    roll = rng.random()
    if roll < 0.7:
        number = _luhn_complete(
            "62" + rng.choice(["2202", "2848", "1700", "2588", "1483", "2262"]), rng.choice([16, 19]), rng
        )
    elif roll < 0.85:
        number = _luhn_complete("4", 16, rng)
    else:
        number = _luhn_complete("5" + rng.choice("12345"), 16, rng)
    sep = rng.choice(["", "", " ", "-"])
    value = sep.join(number[i : i + 4] for i in range(0, len(number), 4)) if sep else number
    return value, 0, len(value)


def gen_mobile(rng: random.Random) -> tuple[str, int, int]:
    """A mobile number, plain or 3-4-4, with an optional +86/86 prefix left outside the core."""
    number = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99999999):08d}"
    sep = rng.choice(["", "", "", "-", " ", ".", "  ", "odd"])
    if sep == "odd":  # as typed by hand: 4-3-4 or 3-4-4 with uneven spaces
        core = rng.choice(
            [f"{number[:4]} {number[4:7]} {number[7:]}", f"{number[:3]} {number[3:7]}  {number[7:]}"]
        )
    else:
        core = f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    prefix = rng.choice(["", "", "", "", "+86 ", "+86", "86-", "(+86)"])
    return prefix + core, len(prefix), len(prefix) + len(core)


def gen_landline(rng: random.Random) -> tuple[str, int, int]:
    """An area code and a 7-8 digit local number, optionally bracketed or with an extension."""
    area = rng.choice(AREA_CODES)
    local = str(rng.randint(2, 8)) + "".join(rng.choice(string.digits) for _ in range(rng.choice([6, 7])))
    style = rng.random()
    if style < 0.55:
        value = f"{area}-{local}"
    elif style < 0.75:
        value = f"{area}{local}"
    elif style < 0.9:
        value = f"({area}){local}"
    elif style < 0.95:
        value = f"{area} {local}"
    else:
        value = f"{area} {local[:-4]} {local[-4:]}"
    if rng.random() < 0.1:
        value += rng.choice(["-", "转"]) + str(rng.randint(1, 999))
    return value, 0, len(value)


def gen_email(rng: random.Random) -> tuple[str, int, int]:
    """An address with a pinyin or QQ-number local part."""
    if rng.random() < 0.3:
        local = str(rng.randint(10000, 3999999999))
    else:
        local = rng.choice(NAMES) + rng.choice(["", ".", "_"]) + str(rng.randint(0, 9999))
    value = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
    return value, 0, len(value)


def gen_plate(rng: random.Random) -> tuple[str, int, int]:
    """An ordinary (5 characters, 0-2 letters) or new-energy (D/F, 6 characters) plate."""
    head = rng.choice(PLATE_PROVINCES) + rng.choice(PLATE_LETTERS)
    if rng.random() < 0.3:
        tail = rng.choice("DF") + rng.choice(PLATE_LETTERS + string.digits) + f"{rng.randint(0, 9999):04d}"
        if rng.random() < 0.3:
            tail = f"{rng.randint(0, 99999):05d}" + rng.choice("DF")
    else:
        chars = [rng.choice(string.digits) for _ in range(5)]
        for pos in rng.sample(range(5), rng.choice([0, 0, 1, 2])):
            chars[pos] = rng.choice(PLATE_LETTERS)
        tail = "".join(chars)
    value = head + rng.choice(["", "", "·", " "]) + tail
    if rng.random() < 0.15:  # typed in lower case
        value = value.lower()
    return value, 0, len(value)


def gen_id_card_typo(rng: random.Random) -> tuple[str, int, int]:
    """An 18-digit ID whose check digit is wrong (a typing slip): still somebody's ID."""
    first17 = (
        rng.choice(REGIONS)
        + f"{rng.randint(1950, 2010):04d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )
    value = first17 + rng.choice([c for c in "0123456789X" if c != id_check_char(first17)])
    return value, 0, len(value)


def gen_name(rng: random.Random) -> tuple[str, int, int]:
    """A surname (sometimes compound) and a one- or two-character given name."""
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.05 else rng.choice(SURNAMES)
    value = surname + "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice([1, 2, 2])))
    return value, 0, len(value)


def gen_address(rng: random.Random, *, room: bool = False) -> tuple[str, int, int]:
    """District, road or estate and a door plate; the core is the door plate (the numbers)."""
    place = rng.choice(DISTRICTS) + rng.choice(ROADS)
    door = f"{rng.randint(1, 999)}号"
    estate = rng.choice(ESTATES)
    if room or estate or rng.random() < 0.6:
        door += f"{estate}{rng.randint(1, 30)}栋"
        if rng.random() < 0.5:
            door += f"{rng.randint(1, 6)}单元"
        door += f"{rng.randint(1, 33)}{rng.randint(1, 8):02d}室"
    return place + door, len(place), len(place) + len(door)


POSITIVES: dict[str, Callable[[random.Random], tuple[str, int, int]]] = {
    "id_card": gen_id_card,
    "bank_card": gen_bank_card,
    "mobile": gen_mobile,
    "landline": gen_landline,
    "email": gen_email,
    "plate": gen_plate,
    "id_card_typo": gen_id_card_typo,
    "name": gen_name,
    "address": gen_address,
    "room_address": lambda rng: gen_address(rng, room=True),  # no cue: found by its 号…室
}


# --- hard negatives: (lead + surface, category) --------------------------------------------------


def random_digits(rng: random.Random, n: int, first: str = "123456789") -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def _failing_digits(rng: random.Random, n: int) -> str:
    while True:
        s = random_digits(rng, n)
        if not luhn_ok(s) and not (n == 18 and s[17] == id_check_char(s[:17])):
            return s


def _date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2010, 2025), rng.randint(1, 12), rng.randint(1, 28)


NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "order_number": lambda r: (
        r.choice(
            [
                "订单号：",
                "订单号",
                "订单编号 ",
                "快递单号",
                "运单号：",
                "物流单号",
                "交易号",
                "工单号",
                "发票号码",
                "合同编号",
            ]
        )
        + random_digits(r, r.randint(10, 19))
    ),
    "lettered_order": lambda r: (
        r.choice(["SF", "JD", "YT", "DD", "ZT", "NO"]) + random_digits(r, r.randint(11, 16))
    ),
    "compact_date": lambda r: "{:04d}{:02d}{:02d}".format(*_date(r)) + r.choice(["", "123045", "0830"]),
    "date": lambda r: r.choice(["{}-{:02d}-{:02d}", "{}/{}/{}", "{}年{}月{}日", "{}.{:02d}.{:02d}"]).format(
        *_date(r)
    ),
    "time": lambda r: r.choice(
        ["{:02d}:{:02d}", "{:02d}时{:02d}分", "2024-05-01 {:02d}:{:02d}:30", "{:02d}:{:02d}-17:30"]
    ).format(r.randint(0, 23), r.randint(0, 59)),
    "price": lambda r: r.choice(
        ["{}元", "¥{}", "{}万元", "人民币{}元", "{}.50元", "共计{}元", "{}块钱"]
    ).format(r.randint(10, 10 ** r.randint(3, 11))),
    "big_amount": lambda r: (
        r.choice(MOBILE_PREFIXES) + random_digits(r, 8, string.digits) + r.choice(["元", "人次", ".00元"])
    ),
    "service_number": lambda r: r.choice(
        [
            "12345",
            "12315",
            "12333",
            "12388",
            "110",
            "120",
            "119",
            "95598",
            "95588",
            "10086",
            "400-123-4567",
            "4008208820",
            "800-820-8820",
            "12345热线",
            "0731-12345",
            "0731-12333",
        ]
    ),
    "long_digits": lambda r: _failing_digits(r, r.randint(13, 19)),
    "eleven_digits": lambda r: "1" + r.choice("012") + random_digits(r, 9, string.digits),
    "card_bad_luhn": lambda r: (lambda s: " ".join(s[i : i + 4] for i in range(0, 16, 4)))(
        next(s for s in iter(lambda: "6222" + random_digits(r, 12, string.digits), None) if not luhn_ok(s))
    ),
    "credit_code": lambda r: (
        "9143"
        + random_digits(r, 4, string.digits)
        + "MA4"
        + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(7))
    ),
    "reference_code": lambda r: r.choice(
        [
            "湘ICP备{}号",
            "GB50096-{}",
            "GB/T 2260-{}",
            "邮编{}",
            "{}室",
            "新增确诊{}例",
            "累计阅读{}次",
            "v{}.0",
            "第{}期",
        ]
    ).format(r.randint(1000, 99999999) if r.random() < 0.5 else r.randint(2000, 2024)),
    "plate_like": lambda r: r.choice(
        [
            "A股",
            "京A",
            "川A1234",
            "5G",
            "新款iPhone15",
            "湘A区",
            "粤港澳",
            "鄂A12",
            "苏E8号",
            "沪深300",
            "京东JD1234",
            "京A12",
            "新ABCDE",
        ]
    ),
    "masked_placeholder": lambda r: r.choice(
        ["0000-00000000", "0731-0000-00000000", "138****5678", "110101********1234"]
    ),
    "mention": lambda r: r.choice(["//@张三:", "@李四 ", "转发微博//@微博用户123:", "@人民日报"]),
    "name_cue_no_name": lambda r: r.choice(
        [
            "我叫了外卖",
            "联系人王先生",
            "我叫他别去",
            "联系人不在",
            "姓名不详",
            "申请人符合条件",
            "来电人称",
            "投诉人反映",
            "联系人李女士",
            "我叫不出名字",
            "户主签字",
            "申请人应当",
            "举报人要求保密",
            "来电人刘师傅",
        ]
    ),
    "numbered_not_address": lambda r: r.choice(
        [
            "地铁{}号线",
            "{}号楼",
            "第{}号文件",
            "{}楼大厅",
            "{}号窗口",
            "住在附近",
            "家住农村",
            "{}楼会议室",
            "{}号台风",
            "国发〔2019〕{}号",
            "{}路公交",
            "{}室一厅",
        ]
    ).format(r.randint(1, 30)),
}


# --- carriers ------------------------------------------------------------------------------------

_SENTENCE_RE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_BOUNDARY = re.compile(r"[，。！？；：、,.!?;:\s）)】」]")
_ALNUM = re.compile(r"[0-9A-Za-z]")


def load_carriers(limit: int, seed: int, *, tipdm: bool = True) -> list[str]:
    """Sentences of 8-160 characters from SMP2020 Weibo posts and (optionally) TIPDM messages."""
    texts: list[str] = []
    data = shared_data_dir()
    for name in (
        ("usual_eval_labeled.txt", "virus_eval_labeled.txt")
        if not tipdm
        else ("usual_train.txt", "virus_train.txt")
    ):
        texts += [row["content"] for row in json.loads((data / "smp2020_ewect" / name).read_text("utf-8"))]
    if tipdm:
        import pandas as pd

        for name, cols in (
            ("fujian3_messages_votes.xlsx", ["留言详情"]),
            ("fujian4_messages_replies.xlsx", ["留言详情", "答复意见"]),
        ):
            frame = pd.read_excel(data / "tipdm2020_c" / name, usecols=cols)
            for col in cols:
                for body in frame[col].dropna().astype(str):
                    texts += [m.group(0) for m in _SENTENCE_RE.finditer(normalize_text(body))]
    rng = random.Random(seed)
    carriers = [t for t in (normalize_text(t) for t in texts) if 8 <= len(t) <= 160]
    rng.shuffle(carriers)
    return carriers[:limit]


def _plant(carrier: str, planted: str, rng: random.Random) -> tuple[str, int]:
    """Insert ``planted`` at a clause boundary (or an end) of ``carrier``; return text and offset."""
    spots = [0, len(carrier)] + [m.end() for m in _BOUNDARY.finditer(carrier)]
    # Never glue the value to a Latin letter or digit of the carrier: that would make a new value.
    spots = [
        p
        for p in spots
        if (p == 0 or not _ALNUM.match(carrier[p - 1]))
        and (p == len(carrier) or not _ALNUM.match(carrier[p]))
    ]
    if not spots:
        carrier += "，"
        spots = [len(carrier)]
    at = rng.choice(spots)
    return carrier[:at] + planted + carrier[at:], at


def build_cases(carriers: Sequence[str], n_pos: int, n_neg: int, seed: int) -> list[PiiCase]:
    """Plant ``n_pos`` positives (spread evenly over kinds) and ``n_neg`` hard negatives."""
    rng = random.Random(seed)
    cases: list[PiiCase] = []
    categories = list(POSITIVES)
    for i in range(n_pos):
        category = categories[i % len(categories)]
        surface, core_start, core_end = POSITIVES[category](rng)
        lead = rng.choice(LEADS[category])
        text, at = _plant(rng.choice(carriers), lead + surface, rng)
        offset = at + len(lead)
        kind = KIND_OF.get(category, category)
        cases.append(PiiCase(text, offset + core_start, offset + core_end, kind, category))
    categories = list(NEGATIVES)
    for i in range(n_neg):
        category = categories[i % len(categories)]
        planted = NEGATIVES[category](rng)
        text, at = _plant(rng.choice(carriers), planted, rng)
        cases.append(PiiCase(text, at, at + len(planted), None, category))
    return cases


@dataclass
class PiiScore:
    """Outcome of :func:`score_cases`."""

    recall: float
    fp_rate: float
    by_category: dict[str, tuple[int, int]]  # category -> (hits, total); hits are misses for negatives
    misses: list[PiiCase]
    false_positives: list[PiiCase]


def score_cases(cases: Sequence[PiiCase]) -> PiiScore:
    """Run :func:`find_pii` on every case and count covered positives and touched negatives."""
    found: dict[str, int] = defaultdict(int)
    totals: Counter[str] = Counter()
    misses: list[PiiCase] = []
    fps: list[PiiCase] = []
    for case in cases:
        totals[case.category] += 1
        matches = find_pii(case.text)
        if case.kind is not None:
            if any(m.start <= case.start and m.end >= case.end for m in matches):
                found[case.category] += 1
            else:
                misses.append(case)
        elif any(m.start < case.end and m.end > case.start for m in matches):
            found[case.category] += 1
            fps.append(case)
    n_pos = sum(1 for c in cases if c.kind is not None)
    n_neg = len(cases) - n_pos
    return PiiScore(
        recall=(n_pos - len(misses)) / n_pos if n_pos else 1.0,
        fp_rate=len(fps) / n_neg if n_neg else 0.0,
        by_category={c: (found[c], totals[c]) for c in totals},
        misses=misses,
        false_positives=fps,
    )
