"""The hot-folder source: sidecars, metadata.csv, settle time, symlinks, deletions, checksums."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.core.records import Window
from daemon.sources import build_source

OLD = time.time() - 3600


def put(path: Path, data: bytes, mtime: float = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def source(root: Path) -> Any:
    table = {"name": "drop", "kind": "folder", "folder": {"path": str(root), "settle_seconds": 60}}
    return build_source("drop", table)


async def read(src: Any) -> tuple[list[Any], list[Any]]:
    window = Window(None, datetime.now(UTC) + timedelta(days=1))
    assets, errors = [], []
    async for page in src.changes(window):
        assets.extend(page.assets)
        errors.extend(page.errors)
    return assets, errors


async def test_sidecar_csv_mtime_and_checksum(tmp_path):
    """Sidecar and CSV metadata are read, updated_at is the later mtime, sha256 is computed."""
    put(tmp_path / "a.png", b"png-a", OLD)
    put(tmp_path / "a.png.json", b'{"title": "A"}', OLD + 10)
    put(tmp_path / "sub" / "b.pdf", b"pdf-b", OLD + 5)
    put(tmp_path / "sub" / "metadata.csv", b"file,title\nb.pdf,B\n", OLD)
    assets, errors = await read(source(tmp_path))
    by_id = {a.id: a for a in assets}
    assert ([], ["a.png", "sub/b.pdf"]) == (errors, sorted(by_id))
    assert {"title": "A"} == by_id["a.png"].metadata
    assert {"title": "B"} == by_id["sub/b.pdf"].metadata
    assert datetime.fromtimestamp(OLD + 10, tz=UTC) == by_id["a.png"].updated_at
    assert hashlib.sha256(b"pdf-b").hexdigest() == by_id["sub/b.pdf"].binary.checksum
    assert "application/pdf" == by_id["sub/b.pdf"].binary.mime_type


async def test_unsettled_files_wait_for_next_pass(tmp_path):
    """A file younger than settle_seconds is left out of changes but still counted as present."""
    put(tmp_path / "new.png", b"x", time.time())
    src = source(tmp_path)
    assets, _ = await read(src)
    ids = [i async for batch in src.all_ids() for i in batch]
    assert ([], ["new.png"]) == ([a.id for a in assets], ids)


async def test_symlink_out_of_tree_is_refused(tmp_path):
    """A symlink leading outside the root is a per-asset error; other files go on."""
    outside = put(tmp_path / "outside" / "secret.txt", b"s")
    root = tmp_path / "root"
    put(root / "ok.png", b"ok")
    (root / "link.txt").symlink_to(outside)
    assets, errors = await read(source(root))
    assert ["ok.png"] == [a.id for a in assets]
    assert [("link.txt", "binary")] == [(e.asset_id, e.field) for e in errors]


async def test_deletions_show_in_all_ids(tmp_path):
    """A removed file disappears from all_ids, which the engine compares with its state."""
    put(tmp_path / "a.png", b"a")
    gone = put(tmp_path / "b.png", b"b")
    src = source(tmp_path)
    gone.unlink()
    assert ["a.png"] == [i async for batch in src.all_ids() for i in batch]


async def test_open_binary_streams_and_verifies(tmp_path):
    """The binary streams back whole; a file changed after the scan fails its checksum."""
    put(tmp_path / "a.png", b"abc" * 1000)
    src = source(tmp_path)
    assets, _ = await read(src)
    async with src.open_binary(assets[0]) as chunks:
        assert b"abc" * 1000 == b"".join([c async for c in chunks])
    put(tmp_path / "a.png", b"xyz" * 1000)
    try:
        async with src.open_binary(assets[0]) as chunks:
            _ = [c async for c in chunks]
    except Exception as exc:
        assert "checksum" == getattr(exc, "field", None)
    else:
        raise AssertionError("changed file was not detected")


def test_example_configs_load():
    """Every example source config validates."""
    import tomllib

    from daemon.sources import load_source_settings

    env = {"DAM_TOKEN": "t", "BYNDER_TOKEN": "t", "CLOUDINARY_API_SECRET": "t"}
    kinds = []
    for path in sorted(Path("config/sources").glob("*.toml")):
        table = tomllib.loads(path.read_text())["sources"][0]
        kinds.append(load_source_settings(table, env).kind)
    assert ["rest", "rest", "folder", "rest"] == kinds
