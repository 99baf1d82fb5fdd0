"""`damsync reload`: one clear line when no daemon answers, and never a signal to a stranger."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli.main import main
from tests.cli.conftest import ROOT


def example_config(tmp_path: Path) -> Path:
    """The example configuration, as a user copies it next to their state."""
    config = tmp_path / "damsync.toml"
    text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    return config


def reload(*args: str):
    return CliRunner().invoke(main, ["reload", *args])


def test_reload_with_the_example_config_and_no_daemon_says_it_is_not_running(tmp_path, monkeypatch):
    """No pid file where the example puts it: exit 1, one line naming where it looked."""
    monkeypatch.chdir(tmp_path)
    example_config(tmp_path)
    result = reload("--config", "damsync.toml")
    assert 1 == result.exit_code
    expected = f"Error: damsync is not running: no pid file {tmp_path / 'damsync.pid'}\n"
    assert expected == result.output


def test_reload_with_a_stale_pid_file_says_the_daemon_is_not_running(tmp_path):
    """A pid file left by a daemon that died names a process that is gone: exit 1, one line."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    pid_file = tmp_path / "damsync.pid"
    pid_file.write_text(gone.stdout, encoding="utf-8")
    result = reload("--pid-file", str(pid_file))
    assert 1 == result.exit_code
    assert 1 == len(result.output.splitlines())
    assert f"damsync is not running: {pid_file} names process {gone.stdout.strip()}" in (
        result.output
    )


def test_reload_never_signals_a_process_that_is_not_damsync(tmp_path):
    """A pid file naming another program (a reused pid) is refused; that program lives on."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file = tmp_path / "damsync.pid"
        pid_file.write_text(f"{stranger.pid}\n", encoding="utf-8")
        result = reload("--pid-file", str(pid_file))
        assert None is stranger.poll()
    finally:
        stranger.kill()
        stranger.wait(10)
    assert 1 == result.exit_code
    assert "is not a damsync daemon" in result.output


def test_reload_refuses_a_missing_pid_file_with_exit_1_not_a_usage_error(tmp_path):
    """`--pid-file` that does not exist means no daemon: exit 1 naming the file."""
    result = reload("--pid-file", str(tmp_path / "nope.pid"))
    assert 1 == result.exit_code
    assert f"damsync is not running: no pid file {tmp_path / 'nope.pid'}" in result.output


def isolated_reload(*args: str) -> subprocess.CompletedProcess[str]:
    """`damsync reload ARGS` in its own session: a signal to "process group 0" reaches it alone."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", "reload", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        start_new_session=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("content", ["", "abc", "0", "-1"])
def test_reload_refuses_a_pid_file_without_a_process_id(tmp_path, content):
    """Garbage, 0 or a negative number (a process group for kill) is refused, not signalled."""
    pid_file = tmp_path / "damsync.pid"
    pid_file.write_text(content, encoding="utf-8")
    done = isolated_reload("--pid-file", str(pid_file))
    assert (1, f"Error: pid file {pid_file} holds no process id\n") == (
        done.returncode,
        done.stderr,
    )


def test_reload_refuses_pid_zero_instead_of_signalling_its_own_process_group():
    """`--pid 0` is a usage error (kill(0) would hang up every process of the group)."""
    assert 2 == isolated_reload("--pid", "0").returncode
