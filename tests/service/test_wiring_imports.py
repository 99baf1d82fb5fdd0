"""
What ``sync --once`` imports to wire its app: no event intake, no inbox consumer (they load only
where events are on), so every cron pass starts without them.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.conftest import ROOT


def loaded_after(*modules: str) -> list[str]:
    """The modules a fresh interpreter holds once it imported ``modules``."""
    code = (
        f"import json, sys\nimport {', '.join(modules)}\nprint(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


#: Loaded only by an app that serves or consumes events.
EVENTS_ONLY = ("daemon.intake", "daemon.engine.inbox_consumer", "daemon.service.event_loops")


def test_wiring_imports_no_event_intake() -> None:
    loaded = loaded_after("daemon.service.wiring")
    assert "daemon.service.wiring" in loaded
    assert [] == [m for m in loaded if m.startswith(EVENTS_ONLY)]


#: APScheduler's scheduler, executors and job stores: built only by the daemon's Runtime.run.
SCHEDULER_ONLY = ("apscheduler.schedulers", "apscheduler.executors", "apscheduler.jobstores")


def test_sync_once_wiring_imports_no_scheduler() -> None:
    loaded = loaded_after(
        "daemon.cli.sync_once",
        "daemon.service.wiring",
        "daemon.service.part_options",
        "daemon.service.runtime",
    )
    assert "daemon.service.runtime" in loaded
    assert [] == [m for m in loaded if m.startswith(SCHEDULER_ONLY)]
