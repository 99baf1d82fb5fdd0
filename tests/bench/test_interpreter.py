"""The bench names the interpreter it measured: its build moves CPU figures."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from bench.harness import interpreter


def test_the_interpreter_is_the_running_one():
    found = interpreter()
    assert platform.python_version() == found["version"]
    assert os.path.realpath(sys.executable) == found["executable"]


def test_a_shared_libpython_is_seen_as_the_dynamic_linker_sees_it():
    """
    ``ldd`` of the executable lists libpython exactly when the process maps one (``ldd`` is
    part of Debian's essential libc-bin: a machine without it fails here, it does not skip).
    """
    linked = subprocess.run(
        ["ldd", os.path.realpath(sys.executable)], capture_output=True, text=True, check=True
    ).stdout
    assert ("libpython" in linked) == interpreter()["shared_libpython"]
