"""The CSV readers: both layouts by header name, every export pitfall a line, memory flat."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest

from daemon.pam import BinariesDir, CsvExport, PamAsset, PamInputError, PamSkip
from tests.pam.helpers import FIXTURES

EXPORT = FIXTURES / "export_40"
FILES = FIXTURES / "files"


def _read(
    assets: Path, variations: Path, files: Path | None = FILES
) -> tuple[dict[str, PamAsset], list[PamSkip]]:
    reads = list(CsvExport(assets, variations, BinariesDir(files) if files else None))
    assets_by_code = {r.code: r for r in reads if isinstance(r, PamAsset)}
    skips = [r for r in reads if isinstance(r, PamSkip)]
    return assets_by_code, skips


def _kinds(asset: PamAsset) -> list[str]:
    return sorted(note.kind for note in asset.notes)


def test_the_4_0_export_reads_every_asset_with_its_files():
    """A non-localizable asset: one reference, a variation per channel that has a file."""
    assets, _ = _read(EXPORT / "assets.csv", EXPORT / "variations.csv")
    bridge = assets["bridge"]
    assert (False, ("front_views", "back_views"), "Architectural bridge") == (
        bridge.localizable,
        bridge.categories,
        bridge.description,
    )
    assert [None] == list(bridge.references)
    assert {("ecommerce", None), ("mobile", None)} == set(bridge.variations)  # print failed
    ref = bridge.references[None]
    assert ref.path is not None and ref.original_name == "bridge.jpg"
    with open(ref.path, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == ref.checksum
    shirt = assets["tshirt"]
    assert shirt.localizable is True and {"en_US", "fr_FR"} == set(shirt.references)
    assert 'Summer t-shirt;\n"cotton" edition' == shirt.description
    assert {("ecommerce", "en_US"), ("ecommerce", "fr_FR"), ("mobile", "en_US")} == set(
        shirt.variations
    )


def test_the_3x_ui_exports_map_by_header_name():
    """Other column order, ',' delimiter, locale before channel: the same records."""
    ui = FIXTURES / "ui_3x"
    assets, skips = _read(ui / "asset_export.csv", ui / "variation_export.csv")
    export, _ = _read(EXPORT / "assets.csv", EXPORT / "variations.csv")
    assert [] == skips
    for code in ("bridge", "user_manual"):
        assert export[code].references == assets[code].references
        assert (export[code].tags, export[code].categories) == (
            assets[code].tags,
            assets[code].categories,
        )
    assert set(assets["tshirt"].references) == {"en_US", "fr_FR"}


def test_localizable_is_a_synonym_of_localized(tmp_path):
    """The header `localizable` is read as `localized`; columns are matched case-insensitively."""
    (tmp_path / "a.csv").write_text("Code;LOCALIZABLE;tags\nx;1;a\n", encoding="utf-8")
    (tmp_path / "v.csv").write_text(
        "asset;locale;channel;reference_file;variation_file\nx;en_US;ecommerce;k;\n",
        encoding="utf-8",
    )
    assets, _ = _read(tmp_path / "a.csv", tmp_path / "v.csv", files=None)
    assert (True, ["en_US"]) == (assets["x"].localizable, list(assets["x"].references))


@pytest.mark.parametrize(
    ("code", "kinds"),
    [
        ("bridge", ["bad_value", "duplicate_codes"]),
        ("no_reference", ["no_reference"]),
        ("hidden_reference", ["empty_codes", "unreachable_reference"]),
        ("gone_binary", ["missing_file"]),
        ("long_tags", ["empty_codes", "truncated_list"]),
        ("tshirt", []),
        ("user_manual", []),
    ],
)
def test_each_pitfall_is_a_note_on_its_asset(code, kinds):
    """Duplicated tags, no reference row, the INNER JOIN, a missing binary, a cut list."""
    assets, _ = _read(EXPORT / "assets.csv", EXPORT / "variations.csv")
    assert kinds == _kinds(assets[code])


def test_duplicated_tags_are_kept_once_and_a_cut_list_loses_no_whole_code():
    """a,b,a,b -> a,b; a list of exactly 1024 bytes ending on a comma keeps every whole code."""
    assets, _ = _read(EXPORT / "assets.csv", EXPORT / "variations.csv")
    assert ("cities", "water") == assets["bridge"].tags
    tags = assets["long_tags"].tags
    assert tags[-1] == "tag_127" and len(tags) == 128


def test_a_list_cut_inside_a_code_drops_that_code(tmp_path):
    """Cut mid-code at the GROUP_CONCAT limit: the partial last code is dropped and noted."""
    tags = ",".join(f"t{i:04d}" for i in range(300))[:1024]
    assert not tags.endswith(",")
    (tmp_path / "a.csv").write_text(f"code;tags\nx;{tags}\n", encoding="utf-8")
    (tmp_path / "v.csv").write_text(
        "asset;channel;locale;reference_file;variation_file\n", encoding="utf-8"
    )
    assets, _ = _read(tmp_path / "a.csv", tmp_path / "v.csv", files=None)
    assert tags.split(",")[:-1] == list(assets["x"].tags)
    assert "'" + tags.split(",")[-1] + "'" in assets["x"].notes[0].message


def test_rows_that_cannot_be_assets_are_skips_with_their_line():
    """Wrong field count, a repeated code, variation rows of no asset: one skip line each."""
    _, skips = _read(EXPORT / "assets.csv", EXPORT / "variations.csv")
    assert [
        ("assets.csv line 12", "broken_row", "3 fields where the header has 6"),
        (
            "assets.csv line 13",
            "bridge",
            "asset code repeated (first at line 2); this row is ignored",
        ),
        (
            "variations.csv line 14",
            "deleted_asset",
            "1 variation row(s) for an asset that assets.csv does not have",
        ),
    ] == [(s.where, s.code, s.reason) for s in skips]


def test_without_a_binaries_directory_keys_are_kept_unchecked():
    """--dry-run without --files: every key is kept, nothing is stat-ed."""
    assets, _ = _read(EXPORT / "assets.csv", EXPORT / "variations.csv", files=None)
    assert assets["gone_binary"].references[None].path is None
    assert [] == _kinds(assets["gone_binary"])


def test_a_missing_required_column_is_one_clear_error(tmp_path):
    """No `code` column: PamInputError naming the file and the header."""
    (tmp_path / "a.csv").write_text("name;tags\nx;a\n", encoding="utf-8")
    (tmp_path / "v.csv").write_text(
        "asset;channel;locale;reference_file;variation_file\n", encoding="utf-8"
    )
    with pytest.raises(PamInputError, match=r"a.csv: no column code in the header \(name;tags\)"):
        list(CsvExport(tmp_path / "a.csv", tmp_path / "v.csv", None))


def test_a_key_that_leaves_the_root_is_refused(tmp_path):
    """../ or an absolute key is a missing file, never read."""
    binaries = BinariesDir(tmp_path)
    assert binaries.locate("../../etc/passwd").file is None
    assert binaries.locate("/etc/passwd").file is None


def test_garbage_is_lines_not_tracebacks(tmp_path):
    """NUL bytes, a lone quote, empty lines: the reader yields lines and keeps going."""
    (tmp_path / "a.csv").write_text('code;tags\n"x;a\n\ny;b\n\x00;z\n', encoding="utf-8")
    (tmp_path / "v.csv").write_text(
        "asset;channel;locale;reference_file;variation_file\n;;;;\n", encoding="utf-8"
    )
    reads = list(CsvExport(tmp_path / "a.csv", tmp_path / "v.csv", None))
    assert reads and all(isinstance(r, PamAsset | PamSkip) for r in reads)


def _synthetic(tmp_path: Path, count: int) -> tuple[Path, Path]:
    assets = tmp_path / "assets.csv"
    variations = tmp_path / "variations.csv"
    with assets.open("w", encoding="utf-8") as a, variations.open("w", encoding="utf-8") as v:
        a.write("code;categories;description;end_of_use;localized;tags\n")
        v.write("asset;channel;locale;reference_file;variation_file\n")
        for i in range(count):
            a.write(f"asset_{i:06d};cat_{i % 7};Description {i};;0;t{i % 50},t{(i + 1) % 50}\n")
        for i in reversed(range(count)):  # not in asset order: the spill must group them
            key = f"0/0/0/0/{i:040x}_a{i}.jpg"
            v.write(f"asset_{i:06d};ecommerce;;{key};{key.replace('.jpg', '_e.jpg')}\n")
            v.write(f"asset_{i:06d};mobile;;{key};\n")
    return assets, variations


@pytest.mark.slow
def test_memory_stays_flat_whatever_the_number_of_rows(tmp_path):
    """50,000 assets and 100,000 variation rows: the peak is that of a few records, not of N."""
    for name in ("medium", "big"):
        (tmp_path / name).mkdir()
    medium = _synthetic(tmp_path / "medium", 10_000)
    big = _synthetic(tmp_path / "big", 50_000)

    def peak(paths: tuple[Path, Path]) -> tuple[int, int]:
        tracemalloc.start()
        count = 0
        for read in CsvExport(paths[0], paths[1], None):
            count += isinstance(read, PamAsset)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, top

    counted_medium, peak_medium = peak(medium)
    counted_big, peak_big = peak(big)
    assert (10_000, 50_000) == (counted_medium, counted_big)
    # 5 times the rows: a reader holding the records (or the variations, as CsvToAsset does)
    # would need tens of MB more; the spill and one asset at a time need none.
    assert peak_big < peak_medium * 1.2, (peak_medium, peak_big)
    assert [] == [r for r in CsvExport(big[0], big[1], None) if isinstance(r, PamSkip)]


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path):
    """Latin-1 bytes in an export: PamInputError naming the file, not a UnicodeDecodeError."""
    (tmp_path / "a.csv").write_bytes("code;description\nx;caf\xe9\n".encode("latin-1"))
    (tmp_path / "v.csv").write_text(
        "asset;channel;locale;reference_file;variation_file\n", encoding="utf-8"
    )
    with pytest.raises(PamInputError, match=r"a.csv: not UTF-8 text"):
        list(CsvExport(tmp_path / "a.csv", tmp_path / "v.csv", None))
