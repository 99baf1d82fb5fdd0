"""
Progress backends for the resume tests: the local file (``--progress FILE``) and the state
database on SQLite and on the real PostgreSQL (``DAMSYNC_TEST_DATABASE_URL``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.pam.pam_progress import ProgressFile
from daemon.store import PamProgressStore
from daemon.store.database import upgrade
from tests.store.conftest import _pg_databases  # noqa: F401  (the pg_databases fixture)

#: Opens the progress of one migration (the same one at each call) as a context manager.
ProgressOpener = Callable[[], Any]

PROGRESS_BACKENDS = [
    pytest.param("file", id="file"),
    pytest.param("sqlite", id="state-sqlite"),
    pytest.param("postgresql", id="state-postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(
    name="state_url", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def _state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state database at head, on each backend."""
    return _migrated(request.param, request, tmp_path)


def _migrated(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_databases")()
    upgrade(url)
    return url


@pytest.fixture(name="open_progress", params=PROGRESS_BACKENDS)
def _open_progress(request: pytest.FixtureRequest, tmp_path: Path) -> ProgressOpener:
    """Opens one migration's progress: the file, or the state database (PIM ``default``)."""
    if request.param == "file":
        path = tmp_path / "progress.sqlite"
        return lambda: ProgressFile(path)
    url = _migrated(request.param, request, tmp_path)
    return lambda: PamProgressStore.from_url(url, "default")
