"""Leases around a pass: a crashed predecessor does not block, a live one does."""

from __future__ import annotations

import asyncio
import socket
import sys


async def test_restart_after_a_crash_takes_the_dead_process_lease_at_once(world):
    """A lease left by a killed process of this host does not delay the next pass."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()
    world.services.store.acquire_lease("demo", f"{socket.gethostname()}:{child.pid}", 600)
    result = await world.runner.run_once()
    assert ("succeeded", True) == (result.status, result.written > 0)


async def test_a_live_holder_elsewhere_makes_the_pass_skip(world):
    """Another live instance's lease is respected: the pass is skipped, nothing written."""
    world.services.store.acquire_lease("demo", "other-host:4242", 600)
    result = await world.runner.run_once()
    assert ("skipped", 0) == (result.status, result.written)
