"""
The store logs through structlog without importing it until its first line: a command that only
reads the store never pays structlog's (and rich's) import, and the lines still reach structlog.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from daemon.core.lazy_log import LazyLogger
from daemon.store import Store

ROOT = Path(__file__).resolve().parents[2]

#: Opens a SQLite store at head, reads it, reports whether structlog is loaded, then logs a line.
PROBE = """
import sys
from daemon.store import Store
store = Store.from_url(sys.argv[1])
store.upgrade()
store.check_at_head()
store.load_checkpoint("demo")
print("READ", "structlog" in sys.modules)
store.rewind("demo", None)
print("LOGGED", "structlog" in sys.modules)
store.dispose()
"""


def test_reading_the_store_imports_no_structlog_and_its_first_line_does(tmp_path: Path):
    """Structlog is imported at the store's first log line, not with the store."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'state.db'}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert ["READ False", "LOGGED True"] == [
        line for line in done.stdout.splitlines() if line.startswith(("READ", "LOGGED"))
    ], done.stderr


def test_store_lines_reach_structlog_with_their_fields(store: Store):
    """A line logged by the store is the same event, level and fields as before."""
    since = datetime(2025, 1, 2, tzinfo=UTC)
    with capture_logs() as logs:
        store.rewind("demo", since)
    assert {
        "event": "store.checkpoint_rewound",
        "log_level": "info",
        "source": "demo",
        "since": since,
        "epoch": 1,
    } in logs


@pytest.fixture
def debug_logging() -> Iterator[None]:
    """structlog at debug level for one test: an earlier test may have configured it at info."""
    kept = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield
    finally:
        structlog.configure(**kept)


@pytest.mark.usefixtures("debug_logging")
def test_the_lazy_logger_logs_each_level_through_structlog():
    """Every level the store uses goes to ``structlog.get_logger(name)``, fields kept."""
    log = LazyLogger("tests.store")
    with capture_logs() as logs:
        log.debug("a.debug", n=1)
        log.info("a.info", n=2)
        log.warning("a.warning", n=3)
        log.error("a.error", n=4)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("a.exception", n=5)
    assert [(e["event"], e["log_level"], e["n"]) for e in logs] == [
        ("a.debug", "debug", 1),
        ("a.info", "info", 2),
        ("a.warning", "warning", 3),
        ("a.error", "error", 4),
        ("a.exception", "error", 5),
    ]
    assert logs[-1]["exc_info"] is True
    assert repr(log) == "LazyLogger('tests.store')"
