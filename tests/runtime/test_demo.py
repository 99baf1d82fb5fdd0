"""`damsync demo --duration 8`: the daemon against both simulators, stopping by itself."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.runtime.conftest import ROOT, query, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def demo_command() -> list[str]:
    """`damsync demo`, as a user runs it."""
    return [sys.executable, "-m", "daemon", "demo"]


def test_demo_runs_passes_serves_metrics_and_stops_by_itself(tmp_path):
    """The demo exits 0 after --duration, its passes wrote assets, and /metrics answered."""
    workdir = tmp_path / "demo"
    args = ["--duration", "8", "--assets", "50", "--port-base", "0", "--dir", str(workdir)]
    started = time.monotonic()
    process = subprocess.Popen(
        [*demo_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        metrics_line = wait_for(
            lambda: next((line for line in list(lines) if "/metrics" in line), None),
            20,
            "the printed /metrics address",
        )
        found = re.search(r"http://\S+/metrics", metrics_line)
        assert found is not None, metrics_line
        url = found.group(0)
        scraped = wait_for(
            lambda: (r := _get(url)) is not None and "damsync_sync_passes_total{" in r and r,
            20,
            "a scrape after the first pass",
        )
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    reader.join(5)
    if process.stdout is not None:
        process.stdout.close()
    output = "".join(lines)
    assert 0 == code, output
    assert time.monotonic() - started < 30
    assert "process_resident_memory_bytes" in scraped
    runs = query(workdir / "damsync.db", "SELECT status, written FROM sync_runs")
    assert runs and all(status in ("success", "partial") for status, _ in runs), runs
    assert sum(written for _, written in runs) >= 40
    assert re.search(r"damsync demo: [1-9]\d* passes, [1-9]\d* assets written", output), output


def _get(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return None


class DemoProcess:
    """A `damsync demo` subprocess whose output lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*demo_command(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=dict(os.environ),
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(self.process.stdout or ()), daemon=True
        )
        self.reader.start()

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == name:
                    found.append(record)
        return found

    def wait_events(
        self, name: str, until: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"demo exited {self.process.returncode}: {self.output()}")
            return until(self.events(name))

        wait_for(seen, timeout, f"{name} events")

    def stop(self, timeout: float) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def output(self) -> str:
        return "".join(self.lines)


def test_demo_passes_cleanly_keeps_deleting_and_exits_0_on_sigint(tmp_path):
    """
    The default demo for its first minute: no warning, no failed asset; the DAM's
    webhooks arrive and bring its changes and deletions to the PIM; SIGINT exits 0.
    """
    workdir = tmp_path / "demo"
    demo = DemoProcess("--duration", "120", "--port-base", "0", "--dir", str(workdir))
    try:
        # The DAM changes, adds and deletes assets every 3 s once the first pass is over, and
        # posts each change as a webhook: the inbox consumer writes them a second later. A
        # totals line comes every 30 s: the second one closes the first minute.
        demo.wait_events("demo.totals", lambda ts: len(ts) >= 2, 90)
        code = demo.stop(30)
    finally:
        demo.kill()
    output = demo.output()
    assert 0 == code, output
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [] == [r for r in records if r.get("level") not in ("debug", "info")]
    assert "Traceback" not in output
    passes = demo.events("sync.pass_finished")
    assert {("succeeded", 0)} == {(p["status"], p["failed"]) for p in passes}, passes
    assert 200 == passes[0]["written"]
    assert [] == [r for r in records if r.get("event") == "scheduler.job_event"]
    runs = query(workdir / "damsync.db", "SELECT status, failed FROM sync_runs")
    assert {("success", 0)} == set(runs), runs
    # Webhooks arrived, were counted, and their changes and deletions reached the PIM.
    assert demo.events("demo.totals")[0]["webhooks_received"] > 0, output
    consumed = demo.events("sync.inbox_consumed")
    assert consumed, output
    assert {0} == {c["failed"] for c in consumed}, consumed
    assert sum(c["written"] for c in consumed) > 0, consumed
    assert sum(c["deleted"] + c["gone"] for c in consumed) > 0, consumed
    assert re.search(r"damsync demo: [1-9]\d* passes", output), output
    assert re.search(r"[1-9]\d* webhooks received \([1-9]\d* assets settled", output), output


def test_make_demo_exits_0_on_ctrl_c_in_a_terminal(tmp_path):
    """`make demo` on a terminal: Ctrl-C stops the demo cleanly and make itself exits 0."""
    args = f"--port-base 0 --assets 20 --duration 60 --dir {tmp_path / 'demo'}"
    # -o: the virtualenv is taken as installed; this test must never reinstall it.
    make = ["make", "-s", "-o", ".venv/.installed-stamp", "demo", f"DEMO_ARGS={args}"]
    if shutil.which("make") is None:
        pytest.skip("needs make")
    planned = subprocess.run([*make, "-n"], cwd=ROOT, capture_output=True, text=True, check=True)
    if "pip" in planned.stdout:
        pytest.skip(f"make demo would install first: {planned.stdout}")
    pid, fd = pty.fork()
    if pid == 0:  # the child: make on the pseudo-terminal
        os.chdir(ROOT)
        os.execvp("make", make)
    seen = bytearray()

    def read_until(text: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < deadline, f"no {text!r} in: {seen.decode(errors='replace')}"
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    seen.extend(os.read(fd, 65536))
                except OSError:  # the child closed the terminal
                    break

    try:
        read_until(b"sync.pass_finished", 60)
        os.write(fd, b"\x03")  # Ctrl-C, as typed: the terminal signals its foreground group
        read_until(b"damsync demo:", 30)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert 0 == os.waitstatus_to_exitcode(status), seen.decode(errors="replace")
