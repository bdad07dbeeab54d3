"""A drop folder for 12345 / 问政 exports (CSV or XLSX, gzip allowed) read with a column mapping.

Each file in ``folder`` (oldest first; hidden, ``.part`` and ``.tmp`` files and files younger than
``settle_seconds`` are left alone) is read with ``fields``, the named ``preset`` or the preset
detected from its header. Good rows are imported in batches; a row with an unreadable value is
skipped and noted. When the file is done it moves to ``processed/`` if every row was good, and to
``quarantine/`` otherwise, with ``<name>.errors.txt`` next to it naming each row and column at
fault. A file that cannot be read at all (corrupt workbook, missing columns) is quarantined the
same way with nothing imported.

A row that cannot be mapped or stored is dead-lettered as ``<file>:<row>`` (the file is then
quarantined, so ``sensing deadletter retry`` reads the row from it again); a file whose reading
fails in any other way is quarantined and dead-lettered as a whole, and the next file is read.

Cursor: ``{"file": {"name", "sha256", "done": n records, "complete", "errors": [...]}}`` for the
file in progress, so a restart resumes within a large file instead of starting it again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from ingest.base import FetchBatch, Health, InvalidItemError, RawItem, Rejected, Source, SourceOptions
from ingest.cursors import merged
from ingest.mapping import FieldMap, map_records
from ingest.presets import PRESETS, ColumnsError, UnknownPresetError, choose_fields, file_key
from ingest.read_limits import ReadsFiles
from ingest.tabular import TableError, file_kind, open_table
from kernel.settings import ImportSettings

MAX_ERRORS_KEPT = 500


class HotlineFilesOptions(SourceOptions):
    """Options of a ``hotline_files`` source."""

    folder: str = Field(description="drop folder watched for CSV/XLSX exports")
    preset: str | None = Field(default=None, description=f"column mapping preset: {', '.join(PRESETS)}")
    fields: FieldMap | None = Field(default=None, description="explicit column mapping (instead of a preset)")
    processed_dir: str | None = Field(
        default=None, description="where finished files go (default <folder>/processed)"
    )
    quarantine_dir: str | None = Field(
        default=None, description="where bad files go (default <folder>/quarantine)"
    )
    settle_seconds: float = Field(
        default=2.0, ge=0, le=3600, description="ignore files modified more recently"
    )
    batch_size: int = Field(default=500, ge=1, le=50_000, description="rows per stored batch")

    @model_validator(mode="after")
    def _known_preset(self) -> HotlineFilesOptions:
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; expected one of {sorted(PRESETS)}")
        return self


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def move_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder``, never overwriting: a clash gets a time suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.name}.{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    path.replace(target)
    return target


def reread_row(
    path: Path, row: int, preset: str | None, fields: FieldMap | None, tz: str, limits: ImportSettings
) -> RawItem:
    """Map the record at ``row`` of ``path`` again (a dead letter's retry).

    Raises:
        InvalidItemError: the file or the row cannot be read, or the row is still unusable.
    """
    try:
        with open_table(path, limits) as table:
            chosen, _ = choose_fields(table.columns, preset, fields)
            wanted = (r for r in table.records if r.row == row)
            for mapped in map_records(wanted, chosen, file_key=file_key(path.name), tz=tz):
                if mapped.item is None:
                    raise InvalidItemError(mapped.message or f"row {row} is unusable")
                mapped.item.origin = f"{path.name}:{row}"
                return mapped.item
    except (TableError, ColumnsError, UnknownPresetError) as exc:
        raise InvalidItemError(f"{path.name}: {exc}") from None
    raise InvalidItemError(f"{path.name} has no row {row}")


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "errors": list(state["errors"])}


class HotlineFilesSource(ReadsFiles, Source):
    """CSV/XLSX exports dropped into a folder."""

    kind: ClassVar[str] = "hotline_files"
    options_model: ClassVar[type[SourceOptions]] = HotlineFilesOptions
    default_channel: ClassVar[str] = "hotline"

    options: HotlineFilesOptions

    @property
    def folder(self) -> Path:
        return Path(self.options.folder)

    @property
    def processed(self) -> Path:
        return Path(self.options.processed_dir) if self.options.processed_dir else self.folder / "processed"

    @property
    def quarantine(self) -> Path:
        return (
            Path(self.options.quarantine_dir) if self.options.quarantine_dir else self.folder / "quarantine"
        )

    def pending_files(self) -> list[Path]:
        """Files ready to read, oldest first."""
        if not self.folder.is_dir():
            return []
        now = time.time()
        out = []
        for path in self.folder.iterdir():
            name = path.name
            if not path.is_file() or name.startswith(".") or name.endswith((".part", ".tmp", ".errors.txt")):
                continue
            try:
                file_kind(path)
            except TableError:
                continue
            if now - path.stat().st_mtime < self.options.settle_seconds:
                continue
            out.append(path)
        return sorted(out, key=lambda p: (p.stat().st_mtime, p.name))

    def _finish(self, path: Path, errors: list[str], n_errors: int) -> None:
        dead = sorted(self._dead_rows.pop(path.name, set()))
        if dead:
            errors = [*errors, *(f"row {r}: could not be stored (see sensing deadletter list)" for r in dead)]
            n_errors += len(dead)
        if n_errors == 0:
            target = move_aside(path, self.processed)
            self.log.info("%s imported, moved to %s", path.name, target)
            return
        target = move_aside(path, self.quarantine)
        lines = [f"{path.name}: {n_errors} problem(s); good rows were imported", *errors]
        if n_errors > len(errors):
            lines.append(f"... and {n_errors - len(errors)} more")
        Path(f"{target}.errors.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.log.warning("%s has %d bad row(s): quarantined at %s", path.name, n_errors, target)

    @property
    def _dead_rows(self) -> dict[str, set[int]]:
        """File name -> rows dead-lettered while it was read (it goes to quarantine)."""
        if not hasattr(self, "_dead"):
            self._dead: dict[str, set[int]] = {}
        return self._dead

    @property
    def _unmapped(self) -> set[str]:
        """Refs of rows the mapping refused in this run (counted as the file's errors already)."""
        if not hasattr(self, "_refused"):
            self._refused: set[str] = set()
        return self._refused

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in self.pending_files():
            try:
                yield from self._fetch_file(path, cursor)
            except Exception as exc:  # noqa: BLE001 - one broken file must not stop the next
                self.log.exception("reading %s failed", path.name)
                message = f"{type(exc).__name__}: {exc}"
                if path.exists():
                    self._quarantine_whole(path, f"{path.name}: reading failed: {message}")
                self._last_cursor = merged(cursor, file=None)
                rejected = Rejected(path.name, "unreadable_file", type(exc).__name__, str(exc) or message)
                yield FetchBatch(items=[], cursor=self._last_cursor, rejected=[rejected])
            cursor = self._last_cursor

    def keep_for_retry(self, ref: str) -> dict[str, Any] | None:
        """Remember that the file holds a dead row (the file is quarantined) and where the row is."""
        name, _, row = ref.rpartition(":")
        if not name or not row.isdigit():
            return {"file": ref}
        if ref not in self._unmapped:  # rows refused by the mapping are in the error file already
            self._dead_rows.setdefault(name, set()).add(int(row))
        return {"file": name, "row": int(row)}

    def _find(self, name: str) -> Path:
        for folder in (self.quarantine, self.processed, self.folder):
            if (folder / name).is_file():
                return folder / name
        raise InvalidItemError(f"{name} is in none of {self.folder}, its processed/ or quarantine/")

    def reread(self, locator: dict[str, Any]) -> RawItem:
        name, row = str(locator.get("file") or ""), locator.get("row")
        if not name or row is None:
            raise InvalidItemError("a whole file: move it back into the drop folder to read it again")
        return reread_row(
            self._find(name), int(row), self.options.preset, self.options.fields, self.timezone, self.limits
        )

    def _fetch_file(self, path: Path, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        sha = sha256_of(path)
        state = cursor.get("file") or {}
        if state.get("name") != path.name or state.get("sha256") != sha:
            state = {
                "name": path.name,
                "sha256": sha,
                "done": 0,
                "complete": False,
                "errors": [],
                "n_errors": 0,
            }
        self._last_cursor = cursor
        if state.get("complete"):
            self._finish(path, list(state.get("errors", [])), int(state.get("n_errors", 0)))
            self._last_cursor = merged(cursor, file=None)
            return
        try:
            table = open_table(path, self.limits)
        except TableError as exc:
            self._quarantine_whole(path, str(exc))
            self._last_cursor = merged(cursor, file=None)
            yield FetchBatch(items=[], cursor=self._last_cursor, skipped=[(path.name, "unreadable_file")])
            return
        with table:
            try:
                fields, preset = choose_fields(table.columns, self.options.preset, self.options.fields)
            except (ColumnsError, UnknownPresetError) as exc:
                self._quarantine_whole(path, f"{path.name}: {exc}")
                self._last_cursor = merged(cursor, file=None)
                yield FetchBatch(
                    items=[], cursor=self._last_cursor, skipped=[(path.name, "unusable_columns")]
                )
                return
            self.log.info("reading %s with mapping %s from record %d", path.name, preset, state["done"])
            items: list[RawItem] = []
            rejected: list[Rejected] = []
            key = file_key(path.name)
            for mapped in map_records(
                table.records, fields, file_key=key, tz=self.timezone, skip=state["done"]
            ):
                state["done"] = mapped.index + 1
                ref = f"{path.name}:{mapped.row}"
                if mapped.item is not None:
                    mapped.item.origin = ref
                    items.append(mapped.item)
                else:
                    message = mapped.message or f"row {mapped.row}"
                    rejected.append(Rejected(ref, mapped.reason or "bad_row", "RowError", message))
                    self._unmapped.add(ref)
                    state["n_errors"] += 1
                    if len(state["errors"]) < MAX_ERRORS_KEPT:
                        state["errors"].append(message)
                if len(items) + len(rejected) >= self.options.batch_size:
                    yield FetchBatch(items=items, cursor=merged(cursor, file=_copy(state)), rejected=rejected)
                    items, rejected = [], []
        state["complete"] = True
        yield FetchBatch(items=items, cursor=merged(cursor, file=_copy(state)), rejected=rejected)
        # The batch above is committed once we are resumed: only now is the file finished.
        self._finish(path, state["errors"], state["n_errors"])
        self._last_cursor = merged(cursor, file=None)

    def _quarantine_whole(self, path: Path, message: str) -> None:
        target = move_aside(path, self.quarantine)
        Path(f"{target}.errors.txt").write_text(
            f"{message}\nnothing was imported from this file\n", encoding="utf-8"
        )
        self.log.warning("%s quarantined: %s", path.name, message)

    def check(self) -> Health:
        if not self.folder.is_dir():
            return Health(ok=False, detail=f"drop folder {self.folder} does not exist")
        return Health(ok=True, detail=f"{len(self.pending_files())} file(s) waiting in {self.folder}")
