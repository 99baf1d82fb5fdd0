"""
File mode: the PAM CSV exports, read by header name, streamed one asset at a time (§4).

Both layouts are read by the same code, because columns are found by name, never by position:

- the 4.0 migration export (§4.1): ``assets.csv`` ``code;categories;description;end_of_use;
  localized;tags`` and ``variations.csv`` ``asset;channel;locale;reference_file;variation_file``;
- the 3.x UI exports (§4.2): the flat asset file (``localized`` or ``localizable``, any column
  order, ``;`` or ``,``) and the variation export, ``locale`` before ``channel``.

An extra ``family`` column (family-by-family, §5.2) is carried on the record. Known export
pitfalls become one note on the asset, never a traceback: tags repeated by the export's join,
lists cut at ``group_concat_max_len`` bytes, empty codes, no reference row, a reference row
hidden by the export's INNER JOIN (no variation row), variation rows that disagree or belong to
no asset, files missing from the binaries directory. A row that cannot be an asset (wrong
number of fields, no code, a code seen before) is a :class:`PamSkip`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

from daemon.core.errors import PermanentError, SyncError
from daemon.pam.pam_binaries import BinariesDir
from daemon.pam.pam_records import PamAsset, PamFile, PamNote, PamRead, PamSkip, unique_codes
from daemon.pam.pam_spill import VariationRow, VariationSpill

ASSET_COLUMNS = ("code", "categories", "description", "end_of_use", "localized", "tags", "family")
VARIATION_COLUMNS = ("asset", "channel", "locale", "reference_file", "variation_file")
SYNONYMS = {"localizable": "localized", "end_of_use_at": "end_of_use"}
#: MySQL's default ``group_concat_max_len``: a list exactly this long was probably cut (§4.1).
GROUP_CONCAT_MAX_LEN = 1024


class PamInputError(SyncError, PermanentError):
    """A whole PAM input is unusable (no such file, a required column missing)."""


def _delimiter(handle: TextIO, forced: str | None) -> str:
    if forced:
        return forced
    try:
        head = handle.readline()
    except UnicodeDecodeError:
        raise PamInputError(f"{handle.name}: not UTF-8 text: export it again as UTF-8") from None
    handle.seek(0)
    return max((";", ",", "\t"), key=head.count)


def _header(
    names: Sequence[str], wanted: Sequence[str], required: Sequence[str], where: str
) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, raw in enumerate(names):
        name = raw.strip().lower()
        name = SYNONYMS.get(name, name)
        if name in wanted and name not in found:
            found[name] = index
    missing = [name for name in required if name not in found]
    if missing:
        raise PamInputError(
            f"{where}: no column {', '.join(missing)} in the header ({';'.join(names)})"
        )
    return found


def _open(path: Path) -> TextIO:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise PamInputError(f"{path}: cannot read it: {exc.strerror}") from None


def _rows(handle: TextIO, delimiter: str, where: str) -> Iterator[tuple[int, list[str] | str]]:
    """(line, fields) per record, or (line, error words) for a record csv cannot read."""
    reader = csv.reader(handle, delimiter=delimiter, quotechar='"', strict=False)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, f"{where} line {line}: unreadable CSV ({exc})"
            continue
        except UnicodeDecodeError:
            raise PamInputError(
                f"{where}: not UTF-8 text near line {line}: export it again as UTF-8"
            ) from None
        if row:
            yield line, row


class CsvExport:
    """
    The two CSV files of a PAM export and the binaries directory.

    Args:
        assets_csv: ``assets.csv`` (or the 3.x asset export).
        variations_csv: ``variations.csv`` (or the 3.x variation export).
        binaries: The storage root, or None to plan without files (every key kept, unchecked).
        delimiter: Force a delimiter; by default the header line decides.
        spill_dir: Where the temporary variation index goes (the system's temp dir by default).
        group_concat_max_len: The source database's limit, for the truncation check.
    """

    def __init__(
        self,
        assets_csv: Path,
        variations_csv: Path,
        binaries: BinariesDir | None,
        *,
        delimiter: str | None = None,
        spill_dir: Path | None = None,
        group_concat_max_len: int = GROUP_CONCAT_MAX_LEN,
    ) -> None:
        self.assets_csv = Path(assets_csv)
        self.variations_csv = Path(variations_csv)
        self.binaries = binaries
        self.delimiter = delimiter
        self.spill_dir = spill_dir
        self.group_concat_max_len = group_concat_max_len

    def __iter__(self) -> Iterator[PamRead]:
        with VariationSpill(self.spill_dir) as spill:
            yield from self._spill_variations(spill)
            yield from self._assets(spill)
            for asset, count, line in spill.orphans():
                yield PamSkip(
                    f"{self.variations_csv.name} line {line}",
                    asset,
                    f"{count} variation row(s) for an asset that {self.assets_csv.name} "
                    "does not have",
                )

    def _spill_variations(self, spill: VariationSpill) -> Iterator[PamSkip]:
        where = self.variations_csv.name
        with _open(self.variations_csv) as handle:
            rows = _rows(handle, _delimiter(handle, self.delimiter), where)
            first = next(rows, None)
            if first is None or isinstance(first[1], str):
                raise PamInputError(f"{where}: no header row")
            columns = _header(first[1], VARIATION_COLUMNS, VARIATION_COLUMNS, where)
            width = len(first[1])
            for line, row in rows:
                if isinstance(row, str):
                    yield PamSkip(f"{where} line {line}", None, row)
                    continue
                asset = row[columns["asset"]].strip() if len(row) > columns["asset"] else ""
                if len(row) != width or not asset:
                    reason = (
                        f"{len(row)} fields where the header has {width}"
                        if asset
                        else "no asset code"
                    )
                    if asset:
                        spill.add_bad(asset, line, reason)
                    else:
                        yield PamSkip(f"{where} line {line}", None, f"variation row: {reason}")
                    continue
                spill.add(
                    asset,
                    VariationRow(line, *(row[columns[c]].strip() for c in VARIATION_COLUMNS[1:])),
                )

    def _assets(self, spill: VariationSpill) -> Iterator[PamRead]:
        where = self.assets_csv.name
        with _open(self.assets_csv) as handle:
            rows = _rows(handle, _delimiter(handle, self.delimiter), where)
            first = next(rows, None)
            if first is None or isinstance(first[1], str):
                raise PamInputError(f"{where}: no header row")
            columns = _header(first[1], ASSET_COLUMNS, ("code",), where)
            width = len(first[1])
            for line, row in rows:
                here = f"{where} line {line}"
                if isinstance(row, str):
                    yield PamSkip(here, None, row)
                    continue
                code = row[columns["code"]].strip() if len(row) > columns["code"] else ""
                if len(row) != width:
                    yield PamSkip(
                        here, code or None, f"{len(row)} fields where the header has {width}"
                    )
                    continue
                if not code:
                    yield PamSkip(here, None, "no asset code")
                    continue
                seen = spill.first_seen(code, line)
                if seen is not None:
                    yield PamSkip(
                        here,
                        code,
                        f"asset code repeated (first at line {seen}); this row is ignored",
                    )
                    continue
                cells = {name: row[index] for name, index in columns.items()}
                yield self._asset(code, cells, spill)

    def _asset(self, code: str, cells: Mapping[str, str], spill: VariationSpill) -> PamAsset:
        notes: list[PamNote] = []
        tags = self._codes(cells.get("tags", ""), "tags", notes)
        categories = self._codes(cells.get("categories", ""), "categories", notes)
        localized = _flag(cells.get("localized", ""), notes)
        end_of_use = _date(cells.get("end_of_use", ""), notes)
        description = cells.get("description", "").strip() or None
        rows = spill.rows_of(code)
        references, variations = self._files(code, localized, rows, spill, notes)
        if localized is None and "localized" in cells and not references:
            notes.append(
                PamNote(
                    "no_reference",
                    "reference",
                    "no reference file: the asset has no reference row in the PAM",
                )
            )
        elif localized is not None and not rows and not references:
            notes.append(
                PamNote(
                    "unreachable_reference",
                    "reference",
                    "a reference row but no variation row: the 4.0 export's INNER JOIN leaves its "
                    "reference file out (read it in API mode)",
                )
            )
        if localized is None and references:
            localized = any(locale is not None for locale in references)
        return PamAsset(
            code=code,
            localizable=localized,
            description=description,
            end_of_use=end_of_use,
            tags=tags,
            categories=categories,
            references=references,
            variations=variations,
            family=cells.get("family", "").strip() or None,
            notes=tuple(notes),
        )

    def _codes(self, raw: str, what: str, notes: list[PamNote]) -> tuple[str, ...]:
        codes, found = unique_codes(raw, what)
        notes.extend(found)
        if len(raw.encode("utf-8")) == self.group_concat_max_len and codes:
            if raw.rstrip().endswith(","):
                # Cut right after a separator: every code kept is whole, later ones are lost.
                notes.append(
                    PamNote(
                        "truncated_list",
                        what,
                        f"{what}: the list is exactly {self.group_concat_max_len} bytes, the "
                        "export's GROUP_CONCAT limit: codes after it are lost (read it in API "
                        "mode, or re-export with a higher group_concat_max_len)",
                    )
                )
                return codes
            notes.append(
                PamNote(
                    "truncated_list",
                    what,
                    f"{what}: the list is exactly {self.group_concat_max_len} bytes, the export's "
                    f"GROUP_CONCAT limit: it was cut, the last code {codes[-1]!r} is dropped and "
                    "later ones are lost (read it in API mode, or re-export with a higher "
                    "group_concat_max_len)",
                )
            )
            codes = codes[:-1]
        return codes

    def _files(
        self,
        code: str,
        localized: bool | None,
        rows: list[VariationRow],
        spill: VariationSpill,
        notes: list[PamNote],
    ) -> tuple[dict[str | None, PamFile], dict[tuple[str, str | None], PamFile]]:
        references: dict[str | None, PamFile] = {}
        variations: dict[tuple[str, str | None], PamFile] = {}
        ref_keys: dict[str | None, str] = {}
        var_keys: dict[tuple[str, str | None], str] = {}
        for line, reason in spill.bad_rows_of(code):
            notes.append(
                PamNote(
                    "bad_value",
                    "variations",
                    f"{self.variations_csv.name} line {line}: {reason}; row ignored",
                )
            )
        for row in rows:
            locale = row.locale or None
            if localized is False and locale is not None or localized is True and locale is None:
                kind = "a locale" if locale else "no locale"
                notes.append(
                    PamNote(
                        "conflict",
                        f"variation[{row.channel}]",
                        f"{self.variations_csv.name} line {row.line}: {kind} for an asset whose "
                        f"localized flag is {int(bool(localized))}; row ignored",
                    )
                )
                continue
            _put(
                ref_keys, locale, row.reference_file, f"reference[{locale or '-'}]", row.line, notes
            )
            _put(
                var_keys,
                (row.channel, locale),
                row.variation_file,
                f"variation[{row.channel},{locale or '-'}]",
                row.line,
                notes,
            )
        for locale, key in ref_keys.items():
            file = self._file(key, f"reference[{locale or '-'}]", notes)
            if file is not None:
                references[locale] = file
        for pair, key in var_keys.items():
            file = self._file(key, f"variation[{pair[0]},{pair[1] or '-'}]", notes)
            if file is not None:
                variations[pair] = file
        return references, variations

    def _file(self, key: str, what: str, notes: list[PamNote]) -> PamFile | None:
        if self.binaries is None:
            return PamFile(key=key)
        located = self.binaries.locate(key)
        if located.file is None:
            notes.append(PamNote("missing_file", what, f"{located.problem}; not migrated"))
        return located.file


def _put(
    found: dict[str | None, str] | dict[tuple[str, str | None], str],
    at: object,
    key: str,
    what: str,
    line: int,
    notes: list[PamNote],
) -> None:
    if not key:
        return  # no file (never generated, or a reference row without a file)
    table: dict[object, str] = found  # type: ignore[assignment]
    known = table.get(at)
    if known is None:
        table[at] = key
    elif known != key:
        notes.append(
            PamNote(
                "conflict",
                what,
                f"line {line}: a second file {key} where {known} was given; the first is kept",
            )
        )


def _flag(raw: str, notes: list[PamNote]) -> bool | None:
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    if value:
        notes.append(
            PamNote(
                "bad_value", "localized", f"localized: {raw!r} is not 1 or 0; read from the files"
            )
        )
    return None


def _date(raw: str, notes: list[PamNote]) -> date | None:
    value = raw.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        notes.append(
            PamNote("bad_value", "end_of_use", f"end_of_use: {raw!r} is not a date; left empty")
        )
        return None


__all__ = ["GROUP_CONCAT_MAX_LEN", "CsvExport", "PamInputError"]
