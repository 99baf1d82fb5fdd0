"""
A hostile hot folder and a broken spool, through the whole engine into the PIM simulator.

Each case names the promise it checks: a clear error (one failure row or one pass error naming
the asset or directory and why), nothing lost (every file is written, reported, or still
ahead of the cursor; nothing is deleted for a file the daemon could not see), nothing leaked
(no file outside the hot folder reaches the PIM), bounded (no input grows memory or disk
without a limit naming its key).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from daemon.mapping import sanitise_code
from tests.reliability.folder_world import folder_world, image, put
from tests.sources.test_folder_hostile import SECRET, unlistable


async def test_sidecar_linked_out_of_the_folder_leaks_nothing(tmp_path):
    """Nothing leaked, clear error: a sidecar linking out is a failure row; no secret in the PIM."""
    secret = put(tmp_path / "etc" / "secret.json", SECRET)
    root = tmp_path / "drop"
    for n in range(3):
        image(root, f"ok{n}.png", f"OK{n}")
    put(root / "thief.png", b"png thief")
    (root / "thief.png.json").symlink_to(secret)
    async with folder_world(tmp_path, root) as world:
        result = await world.runner.run_once()
        pim = await world.packshots()
        failures = world.failures()
    assert ("partial", ["thief.png"]) == (result.status, sorted(failures)), result.error
    detail = failures["thief.png"].detail
    assert (True, True) == (
        str(root / "thief.png.json") in detail,
        "leads out of the folder" in detail,
    )
    assert sorted(sanitise_code(f"ok{n}.png") for n in range(3)) == sorted(pim)
    assert "LEAKED" not in repr(pim)


async def test_sidecar_linked_to_a_busy_file_is_not_silently_skipped(tmp_path):
    """Nothing lost: the file whose sidecar links to a busy outside file is read and reported."""
    busy = put(tmp_path / "var" / "log.json", b"{}", time.time())
    root = tmp_path / "drop"
    for n in range(6):
        image(root, f"f{n}.png", f"F{n}")
    (root / "f3.png.json").unlink()
    (root / "f3.png.json").symlink_to(busy)
    async with folder_world(tmp_path, root) as world:
        result = await world.runner.run_once()
        failures = world.failures()
    assert (6, ["f3.png"]) == (result.read, sorted(failures)), result.error


async def test_deeply_nested_sidecar_fails_one_asset_not_every_pass(tmp_path):
    """Clear error: a too-deep sidecar is one failure row; the pass and the next ones go on."""
    root = tmp_path / "drop"
    image(root, "ok.png", "OK")
    put(root / "deep.png", b"png deep")
    put(root / "deep.png.json", b"[" * 100_000 + b"]" * 100_000)
    async with folder_world(tmp_path, root) as world:
        first = await world.runner.run_once()
        second = await world.runner.run_once()
        failures = world.failures()
        pim = await world.packshots()
    assert ("partial", "partial") == (first.status, second.status), first.error
    assert "nested too deeply" in failures["deep.png"].detail
    assert [sanitise_code("ok.png")] == sorted(pim)


async def test_unlistable_folder_deletes_nothing(tmp_path, monkeypatch):
    """Nothing lost: a folder that cannot be listed stops the sweep and the pass, deletes none."""
    root = tmp_path / "drop"
    for n in range(10):
        image(root, f"top{n}.png", f"T{n}")
    for n in range(4):
        image(root / "locked", f"l{n}.png", f"L{n}")
    async with folder_world(tmp_path, root) as world:
        first = await world.runner.run_once()
        cursor = world.cursor()
        unlistable(monkeypatch, root / "locked")
        with capture_logs() as logged:
            assert 0 == await world.runner.reconcile()
        failed = await world.runner.run_once()
        pim = await world.packshots()
        after = world.cursor()
    assert ("succeeded", 14) == (first.status, len(pim)), first.error
    [line] = [e for e in logged if e["event"] == "sync.reconcile_failed"]
    assert "'locked'" in line["error"]
    assert ("failed", cursor) == (failed.status, after)
    assert (True, True) == ("'locked'" in (failed.error or ""), "EACCES" in (failed.error or ""))


async def test_unusable_spool_fails_the_pass_with_one_line(tmp_path):
    """Clear error: a missing spool directory fails the pass naming it, not as an ExceptionGroup."""
    root = tmp_path / "drop"
    image(root, "a.png", "A")
    spool = tmp_path / "no-such-spool"
    async with folder_world(tmp_path, root, runtime={"spool_dir": str(spool)}) as world:
        result = await world.runner.run_once()
        failures = world.failures()
        cursor = world.cursor()
    error = result.error or ""
    assert ("failed", None, {}) == (result.status, cursor, failures)
    assert (True, False) == (str(spool) in error, "ExceptionGroup" in error), error


async def test_binary_over_the_cap_fails_alone(tmp_path):
    """Bounded, clear error: a binary over max_binary_bytes is a permanent failure naming it."""
    root = tmp_path / "drop"
    image(root, "huge.png", "H", b"h" * 20_000)
    for n in range(3):
        image(root, f"ok{n}.png", f"OK{n}")
    async with folder_world(tmp_path, root, sync={"max_binary_bytes": 10_000}) as world:
        result = await world.runner.run_once()
        failures = world.failures()
        pim = await world.packshots()
    assert ("partial", ["huge.png"]) == (result.status, sorted(failures)), result.error
    huge = failures["huge.png"]
    assert (True, True, True) == (
        huge.permanent,
        "10000" in huge.detail,
        "sync.max_binary_bytes" in huge.detail,
    )
    assert sorted(sanitise_code(f"ok{n}.png") for n in range(3)) == sorted(pim)


def append(path: Path, data: bytes, mtime: float) -> None:
    with path.open("ab") as writer:
        writer.write(data)
    os.utime(path, (mtime, mtime))


async def test_stalled_writer_half_file_is_replaced_once_finished(tmp_path):
    """Nothing lost: a file stalled past settle_seconds goes up half, then whole once finished."""
    root = tmp_path / "drop"
    whole = os.urandom(100_000)
    half = image(root, "slow.png", "S", whole[:50_000])
    async with folder_world(tmp_path, root) as world:
        first = await world.runner.run_once()
        sent_first = await world.media_sha256("slow.png")
        # The writer resumes: the file grows and its mtime moves (dated back past the settle).
        append(half, whole[50_000:], mtime=time.time() - 30)
        second = await world.runner.run_once()
        sent_second = await world.media_sha256("slow.png")
    assert ("succeeded", "succeeded") == (first.status, second.status), second.error
    assert hashlib.sha256(whole[:50_000]).hexdigest() == sent_first
    assert hashlib.sha256(whole).hexdigest() == sent_second
