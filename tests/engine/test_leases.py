"""Leases around a pass: a crashed predecessor does not block, a live one does."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.engine.leasing import dead_local_holder, parse_holder, process_holder

#: A child process that prints its lease holder name, then waits until its stdin closes.
PRINT_HOLDER = (
    "import sys\n"
    "from daemon.engine.leasing import process_holder\n"
    "print(process_holder(), flush=True)\n"
    "sys.stdin.read()\n"
)


def spawn_holder() -> tuple[subprocess.Popen[str], str]:
    """A live child process and the lease holder name it would use."""
    child = subprocess.Popen(
        [sys.executable, "-c", PRINT_HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def end(child: subprocess.Popen[str]) -> None:
    """Let the child exit and reap it, so its pid is really gone."""
    child.communicate(timeout=30)


@pytest.fixture(name="live_holder")
def _live_holder():
    child, holder = spawn_holder()
    try:
        yield child, holder
    finally:
        end(child)


async def test_restart_after_a_crash_takes_the_dead_process_lease_at_once(world):
    """A lease left by a killed process of this host (older ``host:pid`` holder) does not delay
    the next pass."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()
    world.services.store.acquire_lease("demo", f"{socket.gethostname()}:{child.pid}", 600)
    result = await world.runner.run_once()
    assert ("succeeded", True) == (result.status, result.written > 0)


async def test_a_lease_left_by_an_exited_process_is_taken_over_at_once(world):
    """The holder name a process really uses, left behind when it exited, blocks nothing."""
    child, holder = spawn_holder()
    end(child)
    world.services.store.acquire_lease("demo", holder, 600)
    result = await world.runner.run_once()
    assert ("succeeded", True) == (result.status, result.written > 0)


async def test_a_live_holder_elsewhere_makes_the_pass_skip(world):
    """Another live instance's lease is respected: the pass is skipped, nothing written."""
    world.services.store.acquire_lease("demo", "other-host:4242:77", 600)
    result = await world.runner.run_once()
    assert ("skipped", 0) == (result.status, result.written)


async def test_a_skipped_pass_names_the_holder_and_the_lease_expiry(world, live_holder):
    """The skipped pass's error says who holds the lease and until when."""
    _child, holder = live_holder
    held = world.services.store.acquire_lease("demo", holder, 600)
    result = await world.runner.run_once()
    expires = held.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ("skipped", f"lease held by {holder} until {expires}") == (result.status, result.error)


async def test_a_recycled_pid_is_not_taken_for_the_old_holder(world, live_holder):
    """A holder whose pid runs again, but as a process started at another time, is dead."""
    _child, holder = live_holder
    host, pid, started = holder.split(":")
    world.services.store.acquire_lease("demo", f"{host}:{pid}:{int(started) + 1}", 600)
    result = await world.runner.run_once()
    assert ("succeeded", True) == (result.status, result.written > 0)


def test_the_holder_names_host_pid_and_start_time():
    """This process's holder is ``host:pid:starttime``, and it is alive."""
    holder = process_holder()
    host, pid, started = holder.split(":")
    with open(f"/proc/{os.getpid()}/stat", encoding="ascii") as stat:
        start_ticks = stat.read().rpartition(")")[2].split()[19]
    assert (socket.gethostname(), str(os.getpid()), start_ticks) == (host, pid, started)
    assert False is dead_local_holder(holder)


def test_dead_local_holder_judges_each_holder_format(live_holder):
    """New and old holder formats are both read; a wrong start time means another process."""
    _child, holder = live_holder
    host, pid, started = holder.split(":")
    me = os.getpid()
    verdicts = {
        holder: dead_local_holder(holder),
        "same pid, other start": dead_local_holder(f"{host}:{pid}:{int(started) - 1}"),
        "this pid, other start": dead_local_holder(f"{host}:{me}:{int(started) + 10**9}"),
        "old format, live pid": dead_local_holder(f"{host}:{pid}"),
        "other host": dead_local_holder(f"elsewhere.example:{pid}:1"),
        "garbage": dead_local_holder("garbage:x:y"),
        "uuid holder": dead_local_holder("damsync-0123456789ab"),
    }
    expected = {
        holder: False,
        "same pid, other start": True,
        "this pid, other start": True,
        "old format, live pid": False,
        "other host": False,
        "garbage": False,
        "uuid holder": False,
    }
    assert expected == verdicts


@pytest.mark.parametrize(
    ("holder", "parsed"),
    [
        ("web-1:42:9000", ("web-1", 42, 9000)),
        ("web-1:42", ("web-1", 42, None)),
        ("web-1", None),
        ("web-1:x:9000", None),
        ("web-1:42:x", None),
        ("web-1:４２", None),
        ("", None),
    ],
)
def test_parse_holder_reads_both_formats_and_refuses_the_rest(holder, parsed):
    """``host:pid:start`` and the older ``host:pid`` parse; anything else is no local process."""
    assert parsed == parse_holder(holder)
