"""Wiring helpers: who may take a crashed process's lease."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from daemon.engine.leasing import dead_local_holder


def test_dead_local_holder():
    """Only a process of this host that no longer runs is presumed dead."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    assert dead_local_holder(f"{host}:{child.pid}")
    assert not dead_local_holder(f"{host}:{os.getpid()}")
    assert not dead_local_holder(f"{host}:1")
    assert not dead_local_holder(f"elsewhere.example:{child.pid}")
    assert not dead_local_holder("garbage")
