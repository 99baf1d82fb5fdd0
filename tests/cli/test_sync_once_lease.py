"""``sync --once`` while another process holds a source's lease, and after that process died."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

#: Another damsync process: takes the lease of source ``demo`` the way a pass does, prints its
#: holder and the lease's expiry, and keeps it until its stdin closes (or it is killed).
HOLD_LEASE = (
    "import sys\n"
    "from daemon.engine.leasing import process_holder\n"
    "from daemon.store import Store\n"
    "from daemon.telemetry import logs\n"
    "logs.configure('info', json=True, stream=sys.stderr)\n"
    "store = Store.from_url(sys.argv[1])\n"
    "lease = store.acquire_lease('demo', process_holder(), 600)\n"
    "store.dispose()\n"
    "print(lease.holder, lease.expires_at.isoformat(), flush=True)\n"
    "sys.stdin.read()\n"
)


class Holder:
    """A live process holding the ``demo`` lease."""

    def __init__(self, db_url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_LEASE, db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        holder, expires = self.process.stdout.readline().split()
        self.holder = holder
        self.expires_at = datetime.fromisoformat(expires)

    def kill(self) -> None:
        """SIGKILL: the lease is left behind, never released."""
        self.process.kill()
        self.process.communicate(timeout=30)


@pytest.fixture(name="holder")
def _holder(env) -> Iterator[Holder]:
    holder = Holder(env.db_url)
    try:
        yield holder
    finally:
        holder.kill()


def sync_once(config: Path):
    return CliRunner().invoke(main, ["sync", "--once", "--config", str(config)])


def test_a_lease_held_by_a_live_process_exits_3_naming_holder_and_expiry(env, holder):
    """A pass skipped for a held lease exits 3 and says who holds the lease, until when."""
    result = sync_once(env.config)
    expires = holder.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    (line,) = [line for line in result.output.splitlines() if line.startswith("demo:")]
    assert 3 == result.exit_code, result.output
    assert line.startswith("demo: skipped - read 0, written 0,"), line
    assert line.endswith(f"(lease held by {holder.holder} until {expires})"), line


def test_a_lease_left_by_a_killed_process_does_not_block_the_next_sync_once(env, holder):
    """After the holder is SIGKILLed, the next ``sync --once`` takes its lease at once."""
    holder.kill()
    result = sync_once(env.config)
    assert 0 == result.exit_code, result.output
    assert "demo: succeeded" in result.output
