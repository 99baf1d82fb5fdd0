"""The hot folder against hostile trees: symlinked sidecars, broken JSON, unlistable folders."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.core.errors import SourceAssetError, SourceError
from daemon.sources import build_source
from tests.sources.test_folder import put, read

SECRET = b'{"title": {"en_US": "root password: hunter2"}, "sku": "LEAKED"}'


def source(root: Path, **folder: Any) -> Any:
    table = {"name": "drop", "kind": "folder", "folder": {"path": str(root), **folder}}
    return build_source("drop", table)


async def ids(src: Any) -> list[str]:
    return sorted([i async for batch in src.all_ids() for i in batch])


def accounted(assets: list[Any], errors: list[Any]) -> list[str]:
    """Every id the listing accounts for: read, or reported as a per-asset error."""
    return sorted([a.id for a in assets] + [e.asset_id for e in errors])


def why(errors: list[Any]) -> dict[str, tuple[str, str, str]]:
    return {e.asset_id: (e.field, e.path, e.reason) for e in errors}


async def test_sidecar_symlink_out_of_the_root_is_refused(tmp_path):
    """A sidecar linking to a file outside the root is a per-asset error; nothing is read."""
    secret = put(tmp_path / "etc" / "secret.json", SECRET)
    root = tmp_path / "drop"
    put(root / "ok.png", b"ok")
    put(root / "a.png", b"a")
    (root / "a.png.json").symlink_to(secret)
    assets, errors = await read(source(root, settle_seconds=60))
    assert ["ok.png"] == [a.id for a in assets]
    field, path, reason = why(errors)["a.png"]
    assert ("metadata", str(root / "a.png.json")) == (field, path)
    assert "leads out of the folder" in reason
    assert "LEAKED" not in repr([a.metadata for a in assets])


async def test_sidecar_symlink_refused_when_symlinks_are_off(tmp_path):
    """With follow_symlinks = false even a sidecar linking inside the root is refused."""
    put(tmp_path / "shared.json", b'{"sku": "S"}')
    put(tmp_path / "a.png", b"a")
    (tmp_path / "a.png.json").symlink_to(tmp_path / "shared.json")
    assets, errors = await read(source(tmp_path, settle_seconds=60, follow_symlinks=False))
    assert [] == assets
    assert "follow_symlinks" in why(errors)["a.png"][2]


async def test_metadata_csv_symlink_out_of_the_root_is_refused(tmp_path):
    """A metadata.csv linking out of the root is refused for every file that relies on it."""
    outside = put(tmp_path / "etc" / "rows.csv", b"file,sku\nb.png,LEAKED\n")
    root = tmp_path / "drop"
    put(root / "sub" / "b.png", b"b")
    put(root / "sub" / "c.png", b"c")
    put(root / "sub" / "c.png.json", b'{"sku": "C"}')
    (root / "sub" / "metadata.csv").symlink_to(outside)
    assets, errors = await read(source(root, settle_seconds=60))
    assert ["sub/c.png"] == [a.id for a in assets]
    field, path, reason = why(errors)["sub/b.png"]
    assert ("metadata", str(root / "sub" / "metadata.csv")) == (field, path)
    assert "leads out of the folder" in reason


async def test_sidecar_linked_to_a_busy_file_is_reported_not_omitted(tmp_path):
    """A file whose sidecar links out to a busy file is reported: listing and id sweep agree."""
    busy = put(tmp_path / "var" / "log.json", b"{}", time.time())
    root = tmp_path / "drop"
    for n in range(6):
        put(root / f"f{n}.png", b"x%d" % n)
    (root / "f3.png.json").symlink_to(busy)
    src = source(root, settle_seconds=60)
    assets, errors = await read(src)
    assert await ids(src) == accounted(assets, errors)
    assert ["f3.png"] == [e.asset_id for e in errors]


async def test_deeply_nested_sidecar_is_a_per_asset_error(tmp_path):
    """A sidecar nested past the JSON parser's depth fails its asset alone, not the pass."""
    put(tmp_path / "ok.png", b"ok")
    put(tmp_path / "deep.png", b"d")
    put(tmp_path / "deep.png.json", b"[" * 100_000 + b"]" * 100_000)
    assets, errors = await read(source(tmp_path, settle_seconds=60))
    assert ["ok.png"] == [a.id for a in assets]
    assert "nested too deeply" in why(errors)["deep.png"][2]


async def test_sidecar_over_the_size_limit_names_the_key(tmp_path):
    """A sidecar larger than max_sidecar_bytes is refused with the limit and the key."""
    put(tmp_path / "big.png", b"b")
    put(tmp_path / "big.png.json", b'{"title": "' + b"x" * 5000 + b'"}')
    put(tmp_path / "ok.png", b"o")
    put(tmp_path / "ok.png.json", b'{"title": "fine"}')
    assets, errors = await read(source(tmp_path, settle_seconds=60, max_sidecar_bytes=4096))
    assert ["ok.png"] == [a.id for a in assets]
    reason = why(errors)["big.png"][2]
    assert (True, True) == ("4096" in reason, "max_sidecar_bytes" in reason), reason


async def test_unreadable_metadata_csv_fails_its_files_not_the_pass(tmp_path):
    """A metadata.csv that is not UTF-8 fails the files relying on it; other folders go on."""
    put(tmp_path / "ok.png", b"o")
    put(tmp_path / "sub" / "b.png", b"b")
    put(tmp_path / "sub" / "metadata.csv", b"file,sku\nb.png,\xff\xfe\n")
    assets, errors = await read(source(tmp_path, settle_seconds=60))
    assert (["ok.png"], ["sub/b.png"]) == ([a.id for a in assets], [e.asset_id for e in errors])
    assert "metadata.csv" in why(errors)["sub/b.png"][2]


async def test_symlink_loop_is_a_per_asset_error(tmp_path):
    """A symlink pointing at itself fails its asset alone (it used to crash every pass)."""
    put(tmp_path / "ok.png", b"o")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    src = source(tmp_path, settle_seconds=60)
    assets, errors = await read(src)
    assert (["ok.png"], ["loop.png"]) == ([a.id for a in assets], [e.asset_id for e in errors])
    assert await ids(src) == accounted(assets, errors)


async def test_dangling_symlink_is_reported_not_omitted(tmp_path):
    """A symlink to a missing file is reported: the id sweep counts it, so the listing must."""
    put(tmp_path / "ok.png", b"o")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    src = source(tmp_path, settle_seconds=60)
    assets, errors = await read(src)
    assert await ids(src) == accounted(assets, errors)
    assert "missing" in why(errors)["gone.png"][2]


async def test_fifo_is_refused_without_blocking_the_pass(tmp_path):
    """A named pipe in the hot folder is a per-asset error; reading it would block forever."""
    put(tmp_path / "ok.png", b"o")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    os.utime(fifo, (time.time() - 3600,) * 2)
    try:
        # Bounds only the failure (before the fix the scan blocked in open()), not a race.
        assets, errors = await asyncio.wait_for(read(source(tmp_path, settle_seconds=60)), 10)
    finally:
        # Release a reader blocked in open(): a writer end makes it see end of file.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert (["ok.png"], ["pipe.png"]) == ([a.id for a in assets], [e.asset_id for e in errors])
    assert "not a regular file" in why(errors)["pipe.png"][2]


def unlistable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """
    Make listing ``folder`` fail with EACCES, as an unreadable directory or a broken mount does.

    A mock, because the tests run as root, which ignores permission bits, and no fake
    filesystem exists for ``os.walk``; only this one directory is affected.
    """
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(folder):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


async def test_unlistable_folder_aborts_the_id_sweep(tmp_path, monkeypatch):
    """A directory that cannot be listed aborts all_ids: its files must not count as deleted."""
    put(tmp_path / "ok.png", b"o")
    for n in range(4):
        put(tmp_path / "locked" / f"l{n}.png", b"l")
    src = source(tmp_path, settle_seconds=60)
    unlistable(monkeypatch, tmp_path / "locked")
    with pytest.raises(SourceError) as caught:
        await ids(src)
    message = str(caught.value)
    assert (True, True) == ("'locked'" in message, "EACCES" in message), message


async def test_unlistable_folder_fails_the_change_listing(tmp_path, monkeypatch):
    """A directory that cannot be listed fails the listing, naming it, instead of hiding it."""
    put(tmp_path / "ok.png", b"o")
    put(tmp_path / "locked" / "l.png", b"l")
    unlistable(monkeypatch, tmp_path / "locked")
    with pytest.raises(SourceError, match="locked"):
        await read(source(tmp_path, settle_seconds=60))


async def test_path_beyond_path_max_aborts_the_id_sweep(tmp_path):
    """A folder nested past PATH_MAX cannot be listed (ENAMETOOLONG): the sweep stops."""
    put(tmp_path / "root" / "ok.png", b"o")
    fd = os.open(tmp_path / "root", os.O_RDONLY)
    try:
        for n in range(20):  # 20 x 250 characters: past Linux's 4096-byte PATH_MAX
            name = chr(ord("a") + n) * 250
            os.mkdir(name, dir_fd=fd)
            fd, parent = os.open(name, os.O_RDONLY, dir_fd=fd), fd
            os.close(parent)
        os.close(os.open("deep.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    try:
        with pytest.raises(SourceError, match="ENAMETOOLONG"):
            await ids(source(tmp_path / "root", settle_seconds=60))
    finally:
        shutil.rmtree(tmp_path / "root")  # fd-based: pytest's own cleanup may trip on it


async def test_binary_changed_while_read_is_refused(tmp_path):
    """A file rewritten while it streams (a writer that stalled, then resumed) is refused."""
    put(tmp_path / "a.png", b"A" * 200_000)
    src = source(tmp_path, settle_seconds=60, chunk_size=65536)
    page = await src.fetch(["a.png"])  # as the retry job reads it: no checksum to compare
    received: list[bytes] = []
    with pytest.raises(SourceAssetError) as caught:
        async with src.open_binary(page.assets[0]) as chunks:
            async for chunk in chunks:
                if not received:
                    with (tmp_path / "a.png").open("r+b") as writer:
                        writer.seek(150_000)
                        writer.write(b"B" * 50_000)  # same size, new tail
                received.append(chunk)
    assert ("binary", True) == (caught.value.field, "changed while being read" in str(caught.value))


async def test_name_too_long_for_a_sidecar_is_read_from_the_csv(tmp_path):
    """A file whose name leaves no room for ``.json`` is read (from metadata.csv), not failed."""
    name = "n" * 250 + ".png"  # 254 bytes: its sidecar's name would pass NAME_MAX (255)
    put(tmp_path / name, b"n")
    put(tmp_path / "metadata.csv", f"file,sku\n{name},LONG\n".encode())
    assets, errors = await read(source(tmp_path, settle_seconds=60))
    assert ([], [{"sku": "LONG"}]) == (errors, [a.metadata for a in assets])
