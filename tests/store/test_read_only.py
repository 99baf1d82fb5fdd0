"""
A SQLite database made read-only, then writable again: the store recovers, readiness notices.

As root, ``chmod`` does not stop writes, so the file or directory is made immutable with
``chattr +i`` (a real kernel refusal, as on a read-only volume); without root, ``chmod a-w`` does
the same. Only the database file and its directory are ever frozen: freezing the ``-shm`` file
SQLite has mapped into memory would crash the process with SIGBUS.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from daemon.store import Store, StoreUnavailableError
from daemon.store.database import upgrade


class Freezer:
    """Makes paths read-only for this process (root included) and always thaws them at the end."""

    def __init__(self) -> None:
        self.frozen: list[Path] = []
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: no way to make a file read-only")

    def freeze(self, path: Path) -> None:
        if self.as_root:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
        else:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        self.frozen.append(path)

    def thaw(self, path: Path) -> None:
        if self.as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)
        else:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        self.frozen.remove(path)

    def thaw_all(self) -> None:
        for path in list(reversed(self.frozen)):
            self.thaw(path)


@pytest.fixture(name="freezer")
def _freezer() -> Iterator[Freezer]:
    freezer = Freezer()
    yield freezer
    freezer.thaw_all()


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    """A SQLite database at head in a directory of its own."""
    path = tmp_path / "data" / "state.db"
    path.parent.mkdir()
    upgrade(f"sqlite:///{path}")
    return path


def test_store_recovers_once_the_file_is_writable_again(db_path, freezer):
    """Connections opened while the file was read-only are not reused once it is writable."""
    freezer.freeze(db_path)
    store = Store.from_url(f"sqlite:///{db_path}")
    try:
        with pytest.raises(StoreUnavailableError, match="readonly"):
            store.record_media("s", {"c1": "m1"})
        # Reads keep working while read-only, and leave read-only connections in the pool.
        assert store.media_code("s", "c1") is None
        freezer.thaw(db_path)
        store.record_media("s", {"c2": "m2"})
        assert "m2" == store.media_code("s", "c2")
    finally:
        store.dispose()


def test_store_recovers_when_the_file_changed_while_connecting(db_path, freezer):
    """A connection that turned out read-only is discarded on its first read-only error."""
    freezer.freeze(db_path)
    store = Store.from_url(f"sqlite:///{db_path}")

    # SQLite has opened the file read-only by now; making it writable before our own hooks look
    # at it is the race between the driver's open and the pool's bookkeeping.
    @event.listens_for(store.engine, "connect", insert=True)
    def _thaw_after_open(*_: object) -> None:
        if db_path in freezer.frozen:
            freezer.thaw(db_path)

    try:
        with pytest.raises(StoreUnavailableError, match="readonly"):
            store.record_media("s", {"c1": "m1"})
        store.record_media("s", {"c2": "m2"})
        assert "m2" == store.media_code("s", "c2")
    finally:
        store.dispose()


@pytest.mark.parametrize("frozen", ["file", "directory"])
def test_check_writable_fails_while_read_only(db_path, freezer, frozen):
    """Readiness's write check sees a read-only database file or directory, and its end."""
    store = Store.from_url(f"sqlite:///{db_path}")
    try:
        store.check_writable(timeout=0.1)
        target = db_path if frozen == "file" else db_path.parent
        freezer.freeze(target)
        with pytest.raises(StoreUnavailableError, match=f"read-only {frozen}"):
            store.check_writable(timeout=0.1)
        freezer.thaw(target)
        store.check_writable(timeout=0.1)
    finally:
        store.dispose()


def test_check_writable_fails_below_the_free_space_threshold(db_path):
    """A filesystem with less free space than ``min_free_bytes`` makes the write check fail."""
    store = Store.from_url(f"sqlite:///{db_path}")
    try:
        free = shutil.disk_usage(db_path.parent).free
        store.check_writable(timeout=0.1, min_free_bytes=0)
        with pytest.raises(StoreUnavailableError, match="free on the database's filesystem"):
            store.check_writable(timeout=0.1, min_free_bytes=free + 2**40)
    finally:
        store.dispose()


def test_check_writable_failure_is_one_line_naming_the_file(db_path, freezer):
    """The failure is one line that names the read-only file."""
    store = Store.from_url(f"sqlite:///{db_path}")
    try:
        freezer.freeze(db_path)
        with pytest.raises(StoreUnavailableError) as caught:
            store.check_writable(timeout=0.1)
        message = str(caught.value)
        assert 1 == len(message.splitlines())
        assert str(db_path) in message
    finally:
        store.dispose()


MakeUrl = Callable[[], str]


@pytest.mark.postgres
def test_check_writable_fails_on_a_read_only_postgresql(pg_databases: MakeUrl):
    """A PostgreSQL that only accepts read-only transactions (a standby) is not writable."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = pg_databases()
    upgrade(url)
    store = Store.from_url(url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    try:
        store.check_writable()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        store.dispose()  # the setting applies to new sessions
        with pytest.raises(StoreUnavailableError, match="read-only"):
            store.check_writable()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()
        store.dispose()
