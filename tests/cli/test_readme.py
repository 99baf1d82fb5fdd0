"""
The commands of README.md's "Using it" block work as written, in a directory holding a
``damsync.toml`` made from the example configuration and pointed at the simulators on loopback.

Each line runs with its arguments as written (the working directory is the temporary one, so
``damsync.toml``, ``sqlite:///damsync.db`` and the pid file are the README's own relative
paths); ``a|b`` runs each alternative, and the placeholders NAME and ID become the example's
source and a failure made for the purpose. Long-running commands are checked with ``--help``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from tests.cli.conftest import ROOT, Served, bound_socket

#: Commands that run until stopped: the README line is checked with ``--help``.
LONG_RUNNING = ("run", "demo", "sim")

#: What the block must keep showing (a README edit dropping one fails here).
EXPECTED_COMMANDS = (
    "db upgrade",
    "validate-config",
    "sync --once",
    "run",
    "status",
    "failures list",
    "failures show",
    "failures retry",
    "failures forget",
    "checkpoint show",
    "checkpoint rewind",
    "reload",
    "demo",
    "sim pim",
    "sim dam",
)


def readme_lines() -> list[str]:
    """The commands of the README's "Using it" code block, comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Using it\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no sh block under ## Using it"
    lines = [line.split(" # ", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def expand(line: str, values: dict[str, str]) -> list[list[str]]:
    """One argument list per alternative of ``a|b`` (one such token at most), placeholders set."""
    words = [values.get(word, word) for word in shlex.split(line)]
    assert "damsync" == words[0], line
    for i, word in enumerate(words):
        if "|" in word:
            return [[*words[1:i], choice, *words[i + 1 :]] for choice in word.split("|")]
    return [words[1:]]


@pytest.fixture(name="workdir")
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory holding the README's damsync.toml, the simulators serving it on loopback."""
    # The DAM's app names its own URL, so its socket is bound before the app is built.
    dam_socket = bound_socket()
    dam_url = f"http://127.0.0.1:{dam_socket.getsockname()[1]}"
    dam = create_dam_app(DamSimOptions(assets=60, seed=3, history_days=2, base_url=dam_url))
    pim = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    with Served(pim) as pim_server, Served(dam, dam_socket):
        text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
        text = text.replace("http://127.0.0.1:8081", pim_server.url)
        text = text.replace("http://127.0.0.1:8082", dam_url)
        # `damsync run` serves /metrics on a port the system picks when the daemon binds it.
        text = re.sub(r"(?m)^port = 9180\b", "port = 0", text)
        text = re.sub(r'(?m)^log_format = "auto"', 'log_format = "json"', text)
        # A change made by the test is read at once, not after the DAM clock's settle delay.
        text = re.sub(r"(?m)^settle_delay = 2\b", "settle_delay = 0", text)
        (tmp_path / "damsync.toml").write_text(text, encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        yield tmp_path


def invoke(args: list[str]):
    return CliRunner().invoke(main, args)


def make_a_failure(dam_url: str) -> str:
    """One asset the PIM refuses, synced once: its failure id."""
    with httpx.Client(base_url=dam_url) as dam:
        item = dam.get("/_sim/assets").json()["items"][0]
        metadata = dict(item["metadata"], width="not a number")
        dam.post("/_sim/mutate", json={"id": item["id"], "metadata": metadata})
    synced = invoke(["sync", "--once", "--config", "damsync.toml"])
    assert 1 == synced.exit_code, synced.output
    listed = invoke(["failures", "list", "--config", "damsync.toml", "--format", "json"])
    found = re.search(r'"id": (\d+)', listed.output)
    assert found is not None, listed.output
    return found.group(1)


def dam_url_of(workdir: Path) -> str:
    """The DAM simulator's URL, read back from ``[sources.rest]`` of the directory's config."""
    config = (workdir / "damsync.toml").read_text(encoding="utf-8")
    found = re.search(r'(?m)^base_url = "(\S+)"\nchanges_path', config)
    assert found is not None
    return found.group(1)


def test_every_readme_command_works_as_written(workdir):
    """Each line of "Using it" exits 0 (long-running ones: their --help); reload says why not."""
    values = {"NAME": "demo"}
    ran: list[str] = []
    for line in readme_lines():
        if line.startswith("damsync failures") and "ID" not in values:
            values["ID"] = make_a_failure(dam_url_of(workdir))
        for args in expand(line, values):
            if args[0] in LONG_RUNNING:
                args = [*args, "--help"]
            result = invoke(args)
            ran.append(" ".join(args))
            if args[0] == "reload":  # no daemon runs here: one line, exit 1
                not_running = f"Error: damsync is not running: no pid file {workdir}/damsync.pid\n"
                assert (1, not_running) == (result.exit_code, result.output)
                continue
            assert 0 == result.exit_code, f"damsync {' '.join(args)}:\n{result.output}"
            assert "Traceback" not in result.output
    for expected in EXPECTED_COMMANDS:
        assert any(command.startswith(expected) for command in ran), (expected, ran)


@pytest.mark.slow
def test_run_writes_the_pid_file_that_reload_finds(workdir):
    """`damsync run` then `damsync reload`, both `--config damsync.toml`: the daemon reloads."""
    assert 0 == invoke(["db", "upgrade", "--database-url", "sqlite:///damsync.db"]).exit_code
    log_path = workdir / "daemon.log"
    with log_path.open("wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", "--config", "damsync.toml"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=dict(os.environ),
        )
    try:
        wait_for_text(log_path, '"runtime.started"', daemon)
        reloaded = invoke(["reload", "--config", "damsync.toml"])
        assert 0 == reloaded.exit_code, reloaded.output
        assert f"reload requested from process {daemon.pid}\n" == reloaded.output
        wait_for_text(log_path, '"config.reloaded"', daemon)
        daemon.send_signal(signal.SIGTERM)
        assert 0 == daemon.wait(30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
    assert not (workdir / "damsync.pid").exists()


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Wait (30 s at most) for ``text`` in the daemon's log; fail if the daemon exits."""
    deadline = time.monotonic() + 30
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        assert process.poll() is None, path.read_text(encoding="utf-8", errors="replace")
        assert time.monotonic() < deadline, f"no {text} in {path.read_text(encoding='utf-8')}"
        time.sleep(0.05)


def test_make_install_user_links_damsync_onto_a_bin_directory(tmp_path):
    """`make install-user` links .venv/bin/damsync into USER_BIN; the link runs damsync."""
    make = ["make", "-s", "-o", ".venv/.installed-stamp", "install-user", f"USER_BIN={tmp_path}"]
    if shutil.which("make") is None:
        pytest.skip("needs make")
    planned = subprocess.run([*make, "-n"], cwd=ROOT, capture_output=True, text=True, check=True)
    if "pip" in planned.stdout:
        pytest.skip(f"make would install first: {planned.stdout}")
    subprocess.run(make, cwd=ROOT, capture_output=True, check=True)
    link = tmp_path / "damsync"
    assert (ROOT / ".venv" / "bin" / "damsync").resolve() == link.resolve()
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("damsync, version ")
