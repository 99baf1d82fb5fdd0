"""
The store-reading commands import the settings and the store inside the loading window.

A ``damsync`` process pauses the garbage collector while it imports its heavy libraries
(``daemon/cli/startup.py``). A command that imports the store before that window (as
``failures show`` once did, for a constant) pays collections over the young objects of
SQLAlchemy's import (+1.5 % of its instructions). Here a fresh interpreter records whether
the collector was on when ``daemon.settings.root``, ``daemon.store`` and ``sqlalchemy`` were
first imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT

PROBE = """
import gc, importlib.abc, json, sys

WATCHED = ("daemon.settings.root", "daemon.store", "sqlalchemy")
seen = {}


class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in seen:
            seen[name] = gc.isenabled()
        return None


sys.meta_path.insert(0, Watch())
sys.argv = ["damsync", *sys.argv[1:]]
from daemon.cli.main import main

try:
    main()
except SystemExit:
    pass
print("COLLECTOR_ON_AT_IMPORT " + json.dumps(seen))
"""

COMMANDS = [
    ["status"],
    ["runs"],
    ["failures", "list"],
    ["failures", "show", "1"],
    ["checkpoint", "show"],
]


@pytest.fixture(name="config", scope="module")
def _config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("loading-window")
    db_url = f"sqlite:///{directory / 'state.db'}"
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config = directory / "damsync.toml"
    config.write_text(example.replace("sqlite:///damsync.db", db_url), encoding="utf-8")
    from daemon.store.database import upgrade

    upgrade(db_url)
    return config


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_settings_and_store_are_imported_with_the_collector_paused(command, config):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith("COLLECTOR_ON_AT_IMPORT ")), None
    )
    assert line is not None, done.stdout + done.stderr
    seen = json.loads(line.removeprefix("COLLECTOR_ON_AT_IMPORT "))
    assert {"daemon.settings.root": False, "daemon.store": False, "sqlalchemy": False} == seen
