"""The bench names the interpreter it measured: its build moves CPU figures."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

import pytest

from bench.harness import interpreter


def test_the_interpreter_is_the_running_one():
    found = interpreter()
    assert platform.python_version() == found["version"]
    assert os.path.realpath(sys.executable) == found["executable"]
    assert set(found["configure_optimisations"]) <= {"--enable-optimizations", "--with-lto"}


@pytest.mark.skipif(shutil.which("ldd") is None, reason="no ldd to ask independently")
def test_a_shared_libpython_is_seen_as_the_dynamic_linker_sees_it():
    """``ldd`` of the executable lists libpython exactly when the process maps one."""
    linked = subprocess.run(
        ["ldd", os.path.realpath(sys.executable)], capture_output=True, text=True, check=True
    ).stdout
    assert ("libpython" in linked) == interpreter()["shared_libpython"]
