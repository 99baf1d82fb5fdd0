"""
The light commands import only what they use, so they start fast (bench/startup.py times them).

Each case runs one command in a fresh interpreter and lists the heavy modules it loaded; no
timing is asserted, only which modules were imported. The last cases check how a command
process spares the garbage collector's work at start-up and exit (``daemon/cli/startup.py``).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT

#: What no ``--help`` needs: the engine, the service, the adapters and their libraries.
HELP_FORBIDDEN = (
    "alembic",
    "apscheduler",
    "daemon.engine",
    "daemon.pim",
    "daemon.service",
    "daemon.settings",
    "daemon.sim",
    "daemon.sources",
    "daemon.store",
    "httpx",
    "importlib.metadata",
    "prometheus_client",
    "pydantic",
    "rich",
    "sqlalchemy",
    "starlette",
    "structlog",
    "uvicorn",
)

#: What reading the state store does not need. It needs SQLAlchemy Core and the settings
#: (pydantic, the mapping *rules*); tables are plain text (no ``rich``). The schema-head check reads
#: the revision ids without Alembic (nor Alembic's Mako), the settings do not load the mapper, a
#: SQLite store never loads the PostgreSQL dialect, the store runs on Core connections (no ORM),
#: and structlog is imported at the first log line (none here) or when logging is configured.
STORE_READ_FORBIDDEN = (
    "alembic",
    "apscheduler",
    "daemon.engine",
    "daemon.mapping.convert",
    "daemon.mapping.fast",
    "daemon.mapping.mapper",
    "daemon.pim",
    "daemon.service",
    "daemon.sim",
    "daemon.sources",
    "httpx",
    "mako",
    "prometheus_client",
    "rich",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.orm",
    "starlette",
    "structlog",
    "uvicorn",
)

HELPS = [
    ["status"],
    ["runs"],
    ["failures"],
    ["failures", "list"],
    ["failures", "show"],
    ["checkpoint"],
    ["checkpoint", "show"],
    ["checkpoint", "rewind"],
    ["events"],
    ["events", "list"],
    ["events", "retry"],
    ["db"],
    ["db", "current"],
    ["db", "upgrade"],
    ["run"],
    ["reload"],
    ["sync"],
    ["validate-config"],
    ["demo"],
    ["sim"],
    ["structure"],
    ["structure", "plan"],
    ["structure", "apply"],
    ["structure", "export"],
]

STORE_READS = [
    ["status"],
    ["runs"],
    ["failures", "list"],
    ["failures", "show", "1"],
    ["checkpoint", "show"],
    ["checkpoint", "show", "--source", "demo"],
    ["db", "current"],
    ["events", "list"],
    ["events", "list", "--dead"],
    ["reload"],
]

PROBE = """
import json, sys
from daemon.cli.main import main
try:
    main(sys.argv[2:], prog_name="damsync")
except SystemExit:
    pass
forbidden = json.loads(sys.argv[1])
loaded = sorted({f for f in forbidden for m in sys.modules if m == f or m.startswith(f + ".")})
print("LOADED " + json.dumps(loaded))
"""


def loaded_by(args: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """Run ``damsync ARGS`` in a fresh interpreter; the forbidden modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(forbidden), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, done.stdout + done.stderr
    found: list[str] = json.loads(line.removeprefix("LOADED "))
    return found


@pytest.mark.parametrize("command", HELPS, ids=" ".join)
def test_help_of_each_command_imports_nothing_heavy(command):
    """`damsync COMMAND --help` loads neither the store, the settings nor any upstream library."""
    assert [] == loaded_by([*command, "--help"], HELP_FORBIDDEN)


def _config(directory: Path, *, migrated: bool) -> Path:
    """The example configuration, its store a SQLite file in ``directory`` (at head or empty)."""
    config = directory / "damsync.toml"
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    db_url = f"sqlite:///{directory / 'state.db'}"
    config.write_text(example.replace("sqlite:///damsync.db", db_url), encoding="utf-8")
    if migrated:
        from daemon.store.database import upgrade

        upgrade(db_url)
    return config


@pytest.fixture(name="config_at_head", scope="module")
def _config_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _config(tmp_path_factory.mktemp("at-head"), migrated=True)


@pytest.mark.parametrize("command", STORE_READS, ids=" ".join)
def test_store_reading_commands_import_neither_engine_nor_http(command, config_at_head: Path):
    """The read-only operator commands load the settings and the store, nothing of the daemon."""
    assert [] == loaded_by([*command, "--config", str(config_at_head)], STORE_READ_FORBIDDEN)


@pytest.mark.parametrize("command", STORE_READS, ids=" ".join)
def test_store_reading_commands_refuse_an_empty_store_as_lightly(command, tmp_path: Path):
    """Refusing a store that is not at head (the head check, the error line) stays as light."""
    config = _config(tmp_path, migrated=False)
    assert [] == loaded_by([*command, "--config", str(config)], STORE_READ_FORBIDDEN)


def test_db_help_shows_the_store_default_url():
    """The default URL spelled out in `db --help` is the store's own default."""
    from daemon.cli.db import DEFAULT_URL_SHOWN
    from daemon.store import DEFAULT_DATABASE_URL

    assert DEFAULT_DATABASE_URL == DEFAULT_URL_SHOWN


def test_sim_table_resolves_each_simulator_with_its_own_help():
    """`sim`'s lazy table names each simulator's command and repeats its one-line help."""
    import click

    from daemon.cli.simulators import SIMULATORS, sim

    ctx = click.Context(sim)
    for name, (_, shown) in SIMULATORS.items():
        command = sim.get_command(ctx, name)
        assert command is not None
        assert shown == command.get_short_help_str(limit=300)


def test_the_lazy_mapping_facade_still_exports_every_name():
    """`daemon.mapping` loads its mapper on first use; every exported name still resolves."""
    import daemon.mapping

    assert all(getattr(daemon.mapping, name) is not None for name in daemon.mapping.__all__)
    assert set(daemon.mapping.__all__) <= set(dir(daemon.mapping))


#: Runs ``damsync ARGS`` as the process's own command line, then reports at exit whether the
#: collector is on and how many objects it froze, before and after the command's exit handlers.
GC_PROBE = """
import atexit, gc, sys
from daemon.cli.main import main
seen = {}
def report():
    print("GC", seen["before_exit"], gc.get_freeze_count(), gc.isenabled(), flush=True)
atexit.register(report)  # registered first, so it runs last
sys.argv = ["damsync", *sys.argv[1:]]
try:
    main()
except SystemExit:
    # Registered after the command's handlers, so it runs before them.
    atexit.register(lambda: seen.update(before_exit=gc.get_freeze_count()))
"""


def gc_at_exit(args: list[str]) -> tuple[int, int, bool]:
    """Run ``damsync ARGS`` as a process: objects frozen before its exit, at exit, collector on."""
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("GC ")), None)
    assert line is not None, done.stdout + done.stderr
    before, after, enabled = line.split()[1:]
    return int(before), int(after), enabled == "True"


def test_a_command_process_freezes_what_it_loaded_and_keeps_collecting(config_at_head: Path):
    """`damsync status`: its start-up frozen, the collector back on, the rest frozen at exit."""
    before, after, enabled = gc_at_exit(["status", "--config", str(config_at_head)])
    assert enabled
    assert before > 0  # frozen after loading the settings and opening the store
    assert after > before  # and what was made since, at exit


def test_help_freezes_only_at_exit():
    """`damsync --help` loads nothing heavy: nothing frozen until the exit skips the collection."""
    before, after, enabled = gc_at_exit(["--help"])
    assert (before, enabled) == (0, True)
    assert after > 0


def test_an_in_process_command_leaves_the_collector_alone(config_at_head: Path):
    """Invoked in-process (CliRunner, as tests do), a command neither pauses nor freezes."""
    from click.testing import CliRunner

    from daemon.cli import startup
    from daemon.cli.main import main

    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(main, ["status", "--config", str(config_at_head)])
    assert result.exit_code == 0, result.output
    assert not startup.armed()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


@pytest.fixture(name="armed")
def _armed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if this process were a damsync command, for one test; what it froze is unfrozen."""
    from daemon.cli import startup

    frozen = gc.get_freeze_count()
    monkeypatch.setattr(startup, "_armed", True)
    yield
    if not frozen:
        gc.unfreeze()


@pytest.mark.usefixtures("armed")
def test_loading_pauses_the_collector_then_freezes_and_resumes_it():
    """Inside `loading()` nothing is collected; after it, even on an error, collection resumes."""
    from daemon.cli.startup import loading

    frozen = gc.get_freeze_count()
    with loading():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen
    with pytest.raises(RuntimeError), loading():
        raise RuntimeError("config refused")
    assert gc.isenabled()


@pytest.mark.usefixtures("armed")
def test_loading_leaves_a_collector_someone_turned_off_alone():
    """With the collector already off (an embedding program's choice), `loading()` keeps out."""
    from daemon.cli.startup import loading

    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()
