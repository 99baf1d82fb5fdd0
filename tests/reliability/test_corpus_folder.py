"""
Hostile hot-folder trees through the whole engine (see ``corpus.py``).

Each case adds its entries next to one good file and runs one pass. Whatever the tree, the
good file is written, nothing from outside the folder reaches the PIM, and the hostile entry
ends as the case expects: its files written under their ids, or one failure row naming the
file, the field and why. Every pass ends; none blocks on a pipe or a device.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.mapping import sanitise_code
from tests.reliability.corpus import Case, params
from tests.reliability.folder_world import OLD, folder_world, put
from tests.reliability.raw_dam import Failed

SECRET = b"LEAKED secret of the host"


@dataclass(frozen=True)
class Listed:
    """Expected: these files are written, under these ids, and nothing fails."""

    ids: tuple[str, ...]


Tree = Callable[[Path], None]


def png(root: Path, name: str, sidecar: bytes | None = None) -> None:
    """A file mapped to packshots, with a valid sidecar unless ``sidecar`` is given."""
    meta = json.dumps({"title": {"en_US": name}, "sku": "S"}).encode()
    put(root / f"{name}.json", meta if sidecar is None else sidecar)
    put(root / name, f"png {name}".encode())


def files(*names: str) -> Tree:
    def build(root: Path) -> None:
        for name in names:
            png(root, name)

    return build


def empty(root: Path) -> None:
    png(root, "empty.png")
    put(root / "empty.png", b"")


def sidecar(name: str, data: bytes) -> Tree:
    return lambda root: png(root, name, data)


def fifo(root: Path) -> None:
    os.mkfifo(root / "pipe.png")
    os.utime(root / "pipe.png", (OLD, OLD))


def unix_socket(root: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock.png"))


def link(name: str, target: Callable[[Path], Path]) -> Tree:
    return lambda root: (root / name).symlink_to(target(root))


def outside(root: Path) -> Path:
    return put(root.parent / "outside" / "secret.png", SECRET)


def outside_dir(root: Path) -> Path:
    outside(root)
    return root.parent / "outside"


def latin1_name(root: Path) -> None:
    path = os.fsencode(root) + b"/caf\xe9.png"
    with open(path, "wb") as handle:
        handle.write(b"png")
    os.utime(path, (OLD, OLD))


def csv(data: bytes) -> Tree:
    def build(root: Path) -> None:
        put(root / "c.png", b"png c")
        put(root / "metadata.csv", data)

    return build


def future(root: Path) -> None:
    put(root / "future.png", b"png", mtime=1e11)  # year 5138; ext4 stores 2446 at the most


def nested(root: Path) -> None:
    (root / "dir.png").mkdir()
    png(root / "dir.png", "inner.png")


NFC = "caf\u00e9.png"
NFD = unicodedata.normalize("NFD", NFC)
LONG = "n" * 240 + ".png"

CASES = [
    Case(
        "fifo",
        "bounded memory",
        fifo,
        Failed("pipe.png", "binary", "not a regular file (named pipe)"),
    ),
    Case(
        "unix-socket",
        "clear error",
        unix_socket,
        Failed("sock.png", "binary", "not a regular file (socket)"),
    ),
    Case(
        "symlink-to-dev-zero",
        "bounded memory",
        link("zero.png", lambda _: Path("/dev/zero")),
        Failed("zero.png", "binary", "symlink leads out of the folder"),
    ),
    Case(
        "symlink-to-outside-file",
        "nothing leaked",
        link("thief.png", outside),
        Failed("thief.png", "binary", "symlink leads out of the folder"),
    ),
    Case("symlinked-directory-outside", "nothing leaked", link("linked", outside_dir), Listed(())),
    Case(
        "dangling-symlink",
        "clear error",
        link("gone.png", lambda root: root / "nowhere.png"),
        Failed("gone.png", "binary", "symlink target is missing"),
    ),
    Case(
        "device-like-names",
        "nothing lost",
        files("con.png", "aux.png", "COM1.png", "prn.png"),
        Listed(("con.png", "aux.png", "COM1.png", "prn.png")),
    ),
    Case(
        "glob-characters",
        "nothing lost",
        files("*.png", "[x].png", "?.png"),
        Listed(("*.png", "[x].png", "?.png")),
    ),
    Case("nfc-and-nfd-twins", "nothing lost", files(NFC, NFD), Listed((NFC, NFD))),
    Case("newline-in-name", "nothing lost", files("two\nlines.png"), Listed(("two\nlines.png",))),
    Case("name-240-chars", "nothing lost", files(LONG), Listed((LONG,))),
    Case("zero-byte-file", "nothing lost", empty, Listed(("empty.png",))),
    Case("directory-named-png", "nothing lost", nested, Listed(("dir.png/inner.png",))),
    Case(
        "latin1-name", "clear error", latin1_name, Failed("caf\\xe9.png", "id", "not valid UTF-8")
    ),
    Case(
        "mtime-year-2446",
        "clear error",
        future,
        Failed("future.png", "updated_at", "is in the future"),
    ),
    Case(
        "sidecar-nan-infinity",
        "clear error",
        sidecar("nan.png", b'{"title": {"en_US": "t"}, "sku": "S", "width": Infinity}'),
        Failed("nan.png", "width", "inf is not a finite number"),
    ),
    Case(
        "sidecar-utf8-bom",
        "nothing lost",
        sidecar("bom.png", b'\xef\xbb\xbf{"sku": "BOM"}'),
        Listed(("bom.png",)),
    ),
    Case(
        "sidecar-lone-surrogate",
        "nothing lost",
        sidecar("sur.png", b'{"title": {"en_US": "a\\ud800b"}, "sku": "S"}'),
        Listed(("sur.png",)),
    ),
    Case(
        "sidecar-duplicate-keys",
        "nothing lost",
        sidecar("dup.png", b'{"sku": "FIRST", "sku": "LAST"}'),
        Listed(("dup.png",)),
    ),
    Case(
        "sidecar-array",
        "clear error",
        sidecar("arr.png", b"[1, 2]"),
        Failed("arr.png", "metadata", "sidecar is not a JSON object"),
    ),
    Case(
        "sidecar-invalid-utf8",
        "clear error",
        sidecar("bad.png", b'{"sku": "caf\xe9"}'),
        Failed("bad.png", "metadata", "unreadable sidecar"),
    ),
    Case("csv-nul-byte", "nothing lost", csv(b"file,sku\nc.png,A\x00B\n"), Listed(("c.png",))),
    Case(
        "csv-latin1",
        "clear error",
        csv(b"file,sku\nc.png,caf\xe9\n"),
        Failed("c.png", "metadata", "unreadable metadata.csv"),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
async def test_hot_folder_tree(tmp_path: Path, case: Case) -> None:
    """One hostile entry: written or one precise failure; the good file written, nothing leaked."""
    root = tmp_path / "drop"
    root.mkdir()
    png(root, "ok.png")
    case.input(root)
    async with folder_world(tmp_path, root) as world:
        result = await asyncio.wait_for(world.runner.run_once(), 60)
        failures = world.failures()
        pim = await world.packshots()
    assert (True, False) == (sanitise_code("ok.png") in pim, SECRET.decode() in repr(pim))
    expect = case.expect
    if isinstance(expect, Listed):
        assert ("succeeded", {}) == (result.status, failures), result.error
        assert sorted(sanitise_code(i) for i in ("ok.png", *expect.ids)) == sorted(pim)
        return
    assert ("partial", [expect.dam_id]) == (result.status, sorted(failures)), result.error
    detail = failures[expect.dam_id].detail
    assert (True, True) == (f"field {expect.field!r}" in detail, expect.words in detail), detail
    assert [sanitise_code("ok.png")] == sorted(pim)
