"""Bulk import of one file (``sensing import``) as a source, so it runs through the same pipeline.

:class:`FileImportSource` reads a CSV, XLSX, JSON or JSON Lines file (gzip too) with a mapping
preset or explicit fields and yields batches. Its progress lives in the target source's cursor
under ``imports`` (keyed by the file's SHA-256, other keys untouched), so an import killed half
way resumes where its last committed batch ended, and importing a finished file again is a no-op.

A file breaching a limit of ``settings.imports`` as a whole is refused before anything is stored;
one whose rest is ambiguous from some line on (an unclosed CSV quote) keeps the rows before that
line and fails the run with the file and line named (:mod:`ingest.read_limits` lists the cases).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ingest.base import FatalSourceError, FetchBatch, Health, RawItem, Rejected, Source, SourceOptions
from ingest.cursors import merged
from ingest.mapping import FieldMap, map_records
from ingest.presets import ColumnsError, UnknownPresetError, choose_fields, file_key
from ingest.read_limits import ReadsFiles
from ingest.sources.hotline_files import reread_row, sha256_of
from ingest.tabular import TableError, open_table
from kernel.settings import ImportSettings

MAX_PROBLEMS = 20


class FileImportOptions(SourceOptions):
    path: str = Field(description="the file to import")
    preset: str | None = Field(
        default=None, description="mapping preset (detected from the columns when empty)"
    )
    fields: FieldMap | None = Field(default=None, description="explicit mapping instead of a preset")
    batch_size: int = Field(default=1000, ge=1, le=100_000)


def inspect_file(
    path: str | Path, preset: str | None = None, limits: ImportSettings | None = None
) -> tuple[list[str], str, str | None]:
    """(columns, preset name, preset channel) of a file; raises FatalSourceError when unusable."""
    from ingest.presets import PRESETS

    try:
        with open_table(path, limits) as table:
            _fields, name = choose_fields(table.columns, preset)
            return table.columns, name, PRESETS[name].channel if name in PRESETS else None
    except (TableError, ColumnsError, UnknownPresetError) as exc:
        raise FatalSourceError(str(exc).strip("'\"")) from None


class FileImportSource(ReadsFiles, Source):
    """One file, imported once."""

    kind: ClassVar[str] = "file_import"
    options_model: ClassVar[type[SourceOptions]] = FileImportOptions
    default_channel: ClassVar[str] = "social"

    options: FileImportOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_progress: Callable[[int, int, int], None] | None = None  # (position, total, records)
        self.problems: list[str] = []
        self.n_problems = 0
        self.already_done = False
        self.resumed_from = 0
        self.preset_used: str | None = None
        self.refused: str | None = None  # why the rest of the file was refused, if it was

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        path = Path(self.options.path)
        sha = sha256_of(path)
        imports = dict(cursor.get("imports") or {})
        state = dict(imports.get(sha) or {"file": path.name, "done": 0, "complete": False})
        if state.get("complete"):
            self.already_done = True
            return
        self.resumed_from = int(state["done"])
        try:
            table = open_table(path, self.limits)
        except TableError as exc:
            raise FatalSourceError(str(exc)) from None
        with table:
            try:
                fields, self.preset_used = choose_fields(
                    table.columns, self.options.preset, self.options.fields
                )
            except (ColumnsError, UnknownPresetError) as exc:
                raise FatalSourceError(str(exc).strip("'\"")) from None
            items: list[RawItem] = []
            skipped: list[Rejected] = []
            key = file_key(path.name)
            records = map_records(
                table.records, fields, file_key=key, tz=self.timezone, skip=self.resumed_from, unit=table.unit
            )
            for mapped in records:
                if mapped.fatal:
                    self.refused = f"{path.name}: {mapped.message}"
                    imports[sha] = dict(state)  # not complete: importing it again fails the same way
                    yield FetchBatch(items, merged(cursor, imports=dict(imports)), rejected=skipped)
                    raise FatalSourceError(self.refused)
                state["done"] = mapped.index + 1
                ref = f"{path.name}:{mapped.row}"
                if mapped.item is not None:
                    mapped.item.origin = ref
                    items.append(mapped.item)
                else:
                    message = mapped.message or f"row {mapped.row}"
                    skipped.append(Rejected(ref, mapped.reason or "bad_row", "RowError", message))
                    self.n_problems += 1
                    if len(self.problems) < MAX_PROBLEMS:
                        self.problems.append(f"{path.name}: {mapped.message or f'row {mapped.row}'}")
                if len(items) + len(skipped) >= self.options.batch_size:
                    imports[sha] = dict(state)
                    yield FetchBatch(items, merged(cursor, imports=dict(imports)), rejected=skipped)
                    items, skipped = [], []
                    if self.on_progress:
                        self.on_progress(table.position(), table.total, state["done"])
            state["complete"] = True
            imports[sha] = dict(state)
            yield FetchBatch(items, merged(cursor, imports=dict(imports)), rejected=skipped)
            if self.on_progress:
                self.on_progress(table.total, table.total, state["done"])

    def keep_for_retry(self, ref: str) -> dict[str, Any] | None:
        """A dead row is read again from this file (by its absolute path) with the same mapping."""
        _, _, row = ref.rpartition(":")
        if not row.isdigit():
            return None
        fields = self.options.fields.model_dump() if self.options.fields else None
        path = str(Path(self.options.path).resolve())
        return {
            "kind": self.kind,
            "path": path,
            "row": int(row),
            "preset": self.preset_used,
            "fields": fields,
        }

    def reread(self, locator: dict[str, Any]) -> RawItem:
        fields = FieldMap.model_validate(locator["fields"]) if locator.get("fields") else None
        path = Path(str(locator["path"]))
        return reread_row(
            path, int(locator["row"]), locator.get("preset"), fields, self.timezone, self.limits
        )

    def check(self) -> Health:
        path = Path(self.options.path)
        return Health(
            ok=path.is_file(), detail=f"{path} ({path.stat().st_size} bytes)" if path.is_file() else "missing"
        )
