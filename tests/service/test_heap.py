"""glibc's mmap threshold stays fixed: a freed page-sized buffer leaves the next one mapped."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

from daemon.service.heap import fix_mmap_threshold

# Each probe runs in a fresh interpreter (the allocator's state is per process).
_HEADER = """
import ctypes, json, sys
from daemon.service.heap import fix_mmap_threshold

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
"""

# Allocates a listing-page sized buffer, frees it, allocates another and reports how much of the
# second glibc mapped.
PROBE = (
    _HEADER
    + """
fixed = fix_mmap_threshold() if sys.argv[1] == "fix" else False
first = bytes(450_000)
del first
before = libc.mallinfo2().hblkhd
second = bytes(450_000)
mapped = libc.mallinfo2().hblkhd - before
print(json.dumps({"fixed": fixed, "mapped": mapped}))
"""
)


# A mapped block freed before the fix (as while the daemon starts) doubles glibc's trim threshold
# too; ~1 MB freed at the heap's top afterwards is given back only if the fix reset it.
TRIM_PROBE = (
    _HEADER
    + """
early = bytes(1_000_000)
del early
fixed = fix_mmap_threshold() if sys.argv[1] == "fix" else False
blocks = [bytes(10_000) for _ in range(100)]
del blocks
print(json.dumps({"fixed": fixed, "kept": libc.mallinfo2().keepcost}))
"""
)


def _glibc_with_mallinfo2() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)
    return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")


def _probe(mode: str, probe: str = PROBE, **env: str) -> dict[str, int]:
    clean = {"PATH": "/usr/bin:/bin", **env}
    if "PYTHONPATH" in os.environ:
        clean["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(
        [sys.executable, "-c", probe, mode], capture_output=True, text=True, check=True, env=clean
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


pytestmark = pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc >= 2.33 only")


def test_without_the_fix_a_second_page_sized_buffer_comes_from_the_heap() -> None:
    """The behaviour the fix exists for (if glibc stops doing this, the fix can go)."""
    assert {"fixed": False, "mapped": 0} == _probe("plain")


def test_with_the_fix_every_page_sized_buffer_is_mapped_and_given_back() -> None:
    result = _probe("fix")
    assert result["fixed"]
    assert result["mapped"] >= 450_000


def test_the_trim_threshold_raised_before_the_fix_is_reset() -> None:
    """Free memory at the heap's top goes back again, whatever was freed at start-up."""
    assert _probe("plain", TRIM_PROBE)["kept"] > 900_000  # what the fix exists for
    result = _probe("fix", TRIM_PROBE)
    assert result["fixed"]
    assert result["kept"] < 256 * 1024


def test_an_operator_trim_setting_wins() -> None:
    result = _probe("fix", TRIM_PROBE, MALLOC_TRIM_THRESHOLD_="4194304")
    assert result["fixed"]
    assert result["kept"] > 900_000


def test_an_operator_setting_wins() -> None:
    result = _probe("fix", MALLOC_MMAP_THRESHOLD_="1048576")
    assert {"fixed": False, "mapped": 0} == result


def test_it_can_be_called_twice() -> None:
    assert fix_mmap_threshold() == fix_mmap_threshold()


def test_it_is_fixed_only_in_a_damsync_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run in-process (tests, CliRunner) leaves the allocator alone."""
    from daemon.cli import startup

    calls: list[int] = []

    def fix() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr("daemon.service.heap.fix_mmap_threshold", fix)
    monkeypatch.setattr(startup, "_armed", False)
    assert not startup.fixed_heap()
    monkeypatch.setattr(startup, "_armed", True)
    assert startup.fixed_heap()
    assert [1] == calls


def test_the_asset_moving_commands_fix_it_before_their_modules_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sync``, ``run`` and ``migrate-pam`` get it before their imports; the others never."""
    import importlib

    import click

    from daemon.cli import startup

    main = importlib.import_module("daemon.cli.main")
    asked: list[str] = []
    real = importlib.import_module

    def load(name: str) -> object:
        asked.append(name)
        return real(name)

    def fix() -> bool:
        asked.append("fix")
        return True

    monkeypatch.setattr(startup, "fixed_heap", fix)
    monkeypatch.setattr(importlib, "import_module", load)
    group = main.main
    assert isinstance(group, main.LazyGroup)
    for name in ("status", "sync", "run", "migrate-pam", "db"):
        group.commands.pop(name, None)
        with click.Context(group) as ctx:
            assert group.get_command(ctx, name) is not None
    assert [
        "daemon.cli.status",
        "fix",
        "daemon.cli.sync_once",
        "fix",
        "daemon.cli.run",
        "fix",
        "daemon.cli.migrate_pam",
        "daemon.cli.db",
    ] == asked
    assert {"run", "sync", "migrate-pam"} == main.FIXED_HEAP
