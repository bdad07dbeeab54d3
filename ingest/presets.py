"""Ready field mappings for the file and API shapes we know, and detection from a file's columns.

* ``tipdm``: the TIPDM 2020 问政 exports (留言编号, 留言用户, 留言主题, 留言时间, 留言详情, 点赞数,
  反对数, 答复意见, 答复时间, 一级分类; each file has a subset). The contest files number their
  messages independently (a few ids collide across files), so ids are scoped to the file name;
  the same message in two files is then linked by the exact-duplicate check, not lost.
* ``tipdm_segmented``: the segmented, labelled 附件2 rows (tokens, label): no id, no time.
* ``weibo_hot_search``: hourly hot-search board snapshots (snapshot_hour, display_time, position,
  title, category, hot, read_count, discuss_count, ...), one item per entry per capture.
* ``weibo_hot_topics``: one row per distinct hot-search title with its description.
* ``weibo_hot_daily``: the daily board (first_seen_at, board_date, title, band_rank, refer).
* ``generic``: a ``content`` (or ``text``) column plus optional id, title, published_at, url ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.mapping import FieldMap


class UnknownPresetError(KeyError):
    """No preset has this name, or none fits the file's columns."""


@dataclass(frozen=True)
class MappingPreset:
    """A named mapping, the columns that identify it, and the channel its items belong to."""

    name: str
    fields: FieldMap
    required: frozenset[str]
    any_of: frozenset[str] = field(default_factory=frozenset)  # at least one of these too
    channel: str | None = None
    description: str = ""

    def matches(self, columns: Iterable[str]) -> bool:
        cols = set(columns)
        return self.required <= cols and (not self.any_of or bool(self.any_of & cols))


PRESETS: dict[str, MappingPreset] = {
    p.name: p
    for p in (
        MappingPreset(
            "tipdm",
            FieldMap(
                external_id=["留言编号"],
                id_scope="file",
                content=["留言详情", "留言主题"],
                title="留言主题",
                published_at="留言时间",
                author="留言用户",
                likes="点赞数",
                reply="答复意见",
                replied_at="答复时间",
                extra={"dislikes": "反对数", "label": "一级分类"},
            ),
            required=frozenset({"留言编号"}),
            any_of=frozenset({"留言详情", "留言主题"}),
            channel="hotline",
            description="TIPDM 2020 问政 messages (附件2/3/4 and the test set)",
        ),
        MappingPreset(
            "tipdm_segmented",
            FieldMap(content="tokens", extra={"label": "label"}),
            required=frozenset({"tokens", "label"}),
            channel="hotline",
            description="TIPDM 附件2 as segmented tokens with the level-1 label (no id, no time)",
        ),
        MappingPreset(
            "weibo_hot_search",
            FieldMap(
                external_id=["snapshot_hour", "position"],
                content="title",
                title="title",
                published_at=["display_time", "snapshot_hour"],
                reads="read_count",
                comments="discuss_count",
                extra={
                    "hot": "hot",
                    "category": "category",
                    "band_rank": "band_rank",
                    "position": "position",
                    "ads": "ads",
                    "origin": "origin",
                    "snapshot_hour": "snapshot_hour",
                },
            ),
            required=frozenset({"snapshot_hour", "position", "title", "hot"}),
            channel="social",
            description="Weibo hot-search board, hourly snapshots (one row per entry per capture)",
        ),
        MappingPreset(
            "weibo_hot_topics",
            FieldMap(
                external_id=["title"],
                content=["description", "title"],
                title="title",
                published_at="first_seen_hour",
                extra={
                    "max_hot": "max_hot",
                    "category": "category",
                    "n_snapshots": "n_snapshots",
                    "last_seen_hour": "last_seen_hour",
                },
            ),
            required=frozenset({"title", "first_seen_hour", "max_hot"}),
            channel="social",
            description="Weibo hot-search titles, one row per distinct title with its description",
        ),
        MappingPreset(
            "weibo_hot_daily",
            FieldMap(
                external_id=["board_date", "title"],
                content="title",
                title="title",
                published_at="first_seen_at",
                extra={"band_rank": "band_rank", "refer": "refer", "board_date": "board_date"},
            ),
            required=frozenset({"first_seen_at", "board_date", "title"}),
            channel="social",
            description="Weibo hot-search board, daily first appearances",
        ),
        MappingPreset(
            "generic",
            FieldMap(
                external_id=["id"],
                content=["content", "text"],
                title="title",
                published_at=["published_at", "time", "date", "created_at"],
                url="url",
                author="author",
                channel="channel",
                region_hint="region",
                likes="likes",
                reposts="reposts",
                comments="comments",
                reads="reads",
                reply="reply",
                replied_at="replied_at",
            ),
            required=frozenset(),
            any_of=frozenset({"content", "text"}),
            description="content (or text) plus optional id, title, published_at, url, author ...",
        ),
    )
}

# Files we recognise but that hold no documents: detection explains instead of guessing.
NOT_DOCUMENTS: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset({"一级分类", "二级分类", "三级分类"}),
        "the TIPDM label taxonomy (附件1): category names, no messages",
    ),
)


def describe_columns(preset: MappingPreset) -> str:
    """The identifying columns of a preset, for messages."""
    parts = sorted(preset.required)
    if preset.any_of:
        parts.append(" or ".join(sorted(preset.any_of)))
    return ", ".join(parts)


def get_preset(name: str) -> MappingPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(
            f"unknown mapping preset {name!r}; expected one of {sorted(PRESETS)}"
        ) from None


def detect_preset(columns: Iterable[str]) -> MappingPreset:
    """The most specific preset whose identifying columns are all present.

    Raises:
        UnknownPresetError: nothing fits; the message lists what each preset needs.
    """
    cols = {str(c).strip() for c in columns}
    for needed, what in NOT_DOCUMENTS:
        if needed <= cols and not (cols & {"content", "text", "留言详情", "留言主题", "tokens"}):
            raise UnknownPresetError(f"this file looks like {what}; there is nothing to import")
    fitting = [p for p in PRESETS.values() if p.matches(cols)]
    if not fitting:
        wanted = "; ".join(f"{p.name}: {describe_columns(p)}" for p in PRESETS.values())
        raise UnknownPresetError(f"no mapping preset fits the columns {sorted(cols)}; presets need {wanted}")
    return max(fitting, key=lambda p: (len(p.required) + (1 if p.any_of else 0), p.name != "generic"))


def fields_for(preset: MappingPreset, columns: Iterable[str]) -> FieldMap:
    """The preset's map for a file with ``columns``: a generic file without an ``id`` column
    gets ``file:row`` ids instead."""
    cols = set(columns)
    fields = preset.fields
    if preset.name == "generic" and not set(fields.external_id) <= cols:
        return fields.model_copy(update={"external_id": []})
    return fields


class ColumnsError(ValueError):
    """A file lacks the columns its mapping needs."""


def choose_fields(
    columns: Iterable[str], preset: str | None = None, fields: FieldMap | None = None
) -> tuple[FieldMap, str]:
    """The map to read a file with ``columns``: explicit fields, a named preset, or detection.

    Returns the map and the preset name (``custom`` for explicit fields).

    Raises:
        ColumnsError: the named preset or the fields need columns the file lacks.
        UnknownPresetError: no preset named so, or none detected.
    """
    cols = {str(c).strip() for c in columns}
    if fields is not None:
        missing = [c for c in fields.external_id if c not in cols]
        text_paths = [p for key in ("content", "title") for p in _paths(getattr(fields, key))]
        if text_paths and not any(p in cols for p in text_paths):
            missing.append(" or ".join(text_paths))
        if missing:
            raise ColumnsError(f"missing column(s) {', '.join(missing)}; the file has {sorted(cols)}")
        return fields, "custom"
    chosen = get_preset(preset) if preset else detect_preset(cols)
    if not chosen.matches(cols):
        raise ColumnsError(
            f"preset {chosen.name!r} needs columns {describe_columns(chosen)}; the file has {sorted(cols)}"
        )
    return fields_for(chosen, cols), chosen.name


def _paths(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def file_key(name: str) -> str:
    """A file's name without ``.gz`` and its type suffix: the scope of file-local ids."""
    base = name[:-3] if name.lower().endswith(".gz") else name
    stem, dot, _suffix = base.rpartition(".")
    return stem if dot else base
