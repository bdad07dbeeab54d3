"""Names and street addresses found by the words that introduce them (used by :mod:`ingest.pii`).

Unlike numbers, names and addresses have no shape of their own, so they are only looked for
after a cue:

- a **name** after 我叫 / 姓名 / 联系人 / 来电人 / 投诉人 ... when it starts with a common surname
  (``我叫张三`` -> ``我叫张*``: the surname is kept, the given name hidden). A surname followed by
  a title (``联系人王先生``) names nobody and is left alone.
- a **street address**: the house, building, unit and room numbers after 住在 / 家住 / 住址 /
  地址 (``家住岳麓区麓山南路32号5栋302室`` -> ``家住岳麓区麓山南路**号*栋***室``), and anywhere a
  number ``…号`` is followed by a room ``…室``. Provinces, cities, districts, roads and estates
  stay readable: they are what region tagging and demand analysis need, and name no one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# The most common Chinese surnames (about 90 % of the population), compound ones first.
_COMPOUND_SURNAMES = (
    "欧阳|司马|诸葛|上官|东方|皇甫|尉迟|公孙|慕容|令狐|长孙|宇文|司徒|夏侯|轩辕|端木|独孤|南宫"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
    "严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁"
    "尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时"
    "穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾"
    "隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_TITLES = (
    "先生|女士|小姐|老师|师傅|阿姨|大爷|大妈|大姐|大哥|同志|经理|主任|书记|局长|科长|部长|校长|院长|医生|"
    "律师|警官|总|某|姓|家|氏|工"
)
# Characters that start the words after a name rather than continue it (verbs, particles, the
# next field): "我叫张三反映..." is 张三, not 张三反.
_STOP = frozenset(
    "的了是在和与及跟同到给把被说想要来去住家今现从因为对向于也都就还又很太请已会能可将曾电手联反投举"
    "年岁男女等啊呀吧呢吗哦嘛我你他她它们这那有没不号室路街市区县省镇村社身证性籍民族"
)
# Words that begin with a surname character but are not names ("申请人符合条件", "申请人应当").
_NOT_NAME_RE = re.compile(
    r"符合|应当|应该|应按|严重|严格|申领|申报|申诉|申请|明确|明显|高度|管理|单位|全部|全体|安排|任何|成员|"
    r"毕业|时间|方面|常住|连续|于\d|向|和|及时|宁可|万一|石头|金额|文件|程序|江湖|齐全|房屋|房子|房产|查询|查看|查处"
)
_CJK = re.compile(r"[\u4e00-\u9fff]")

NAME_CUE_RE = re.compile(
    r"(?:我叫|我名叫|我的名字(?:叫|是)|本人(?:名叫|叫)|姓名|联系人|来电人|投诉人|反映人|举报人|申请人|收件人|户主)"
    r"(?:姓名)?[ \t]*(?:[:：][ \t]*|是|为)?"
)
_SURNAME_RE = re.compile(rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])")
_TITLE_RE = re.compile(rf"(?:{_TITLES})")
# A "name" followed by one of these is a place: 联系人：黄财镇农办主任, 投诉人：邝胡社区.
_PLACE_AFTER_RE = re.compile(r"社区|街道|小区|[镇乡村区县市]")

# A bare 地址 / 联系地址 mostly introduces an office ("地址：XX路168号"), so it is no cue.
ADDRESS_CUE_RE = re.compile(
    r"(?:住在|家住|住址|现住|居住在|居住于|户籍地址|家庭地址|收货地址)[ \t]*[:：为是]?[ \t]*"
)
# The address after a cue runs to the next clause break (at most 48 characters).
_ADDRESS_SPAN_RE = re.compile(r"[^，。！？；,!?;\s、）)】」\"“”]{1,48}")
_NUM = r"(?:\d{1,5}|(?<![同哪每])[一二三四五六七八九十两零〇]{1,3})"  # not 同一栋 (the same building)
# House, building, unit, floor and room numbers; "3-2-501" building-unit-room triples.
DOOR_RE = re.compile(
    rf"(?:{_NUM}(?:号楼|号院|号(?![线文令码窗])|栋|幢|座|单元|楼|层|室|户|组|弄)|\d{{1,4}}-\d{{1,4}}(?:-\d{{1,5}})?(?:室|号)?"
    r"|(?<=[栋幢元])\d{3,4}(?!\d))+"  # 1栋406: a bare room number after the building
)
# Without a cue: a number with 号/栋/单元, maybe an estate and more numbered parts, then a room.
_GAP = r"[^\d\s，。！？；,!?;]{0,8}"
ROOM_ADDRESS_RE = re.compile(
    rf"(?<![0-9A-Za-z])\d{{1,5}}(?:号楼|号院|号|栋|幢|座|单元)(?:{_GAP}\d{{1,5}}(?:栋|幢|座|单元|楼|层))*{_GAP}\d{{1,5}}室"
)
_DIGITS_CJK_RE = re.compile(r"\d|[一二三四五六七八九十两零〇]")


def find_names(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each name after a cue (surname and given name)."""
    for cue in NAME_CUE_RE.finditer(text):
        pos = cue.end()
        surname = _SURNAME_RE.match(text, pos)
        if surname is None or _NOT_NAME_RE.match(text, pos):
            continue
        given = surname.end()
        if _TITLE_RE.match(text, given):
            continue  # 王先生, 李老师: a surname with a title names nobody
        end = given
        while end < len(text) and end - given < 2 and _CJK.match(text[end]) and text[end] not in _STOP:
            end += 1
        if end > given and not _PLACE_AFTER_RE.match(text, end):
            yield pos, end


def find_addresses(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the door-plate part of each address (the part with numbers)."""
    for cue in ADDRESS_CUE_RE.finditer(text):
        span = _ADDRESS_SPAN_RE.match(text, cue.end())
        if span is None:
            continue
        doors = list(DOOR_RE.finditer(text, span.start(), span.end()))
        if doors:
            yield doors[0].start(), doors[-1].end()
    for m in ROOM_ADDRESS_RE.finditer(text):
        yield m.start(), m.end()


def mask_name(value: str) -> str:
    """``张三`` -> ``张*``: the surname stays, each given-name character becomes ``*``."""
    surname = _SURNAME_RE.match(value)
    keep = surname.end() if surname else 1
    return value[:keep] + "*" * (len(value) - keep)


def mask_address(value: str) -> str:
    """Hide every number of a door plate: ``32号5栋302室`` -> ``**号*栋***室``."""
    return _DIGITS_CJK_RE.sub("*", value)
