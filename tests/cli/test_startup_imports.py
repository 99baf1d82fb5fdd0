"""
The light commands import only what they use, so they start fast (bench/startup.py times them).

Each case runs one command in a fresh interpreter and lists the heavy modules it loaded; no
timing is asserted, only which modules were imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
#: (pydantic, the mapping *rules*); ``rich`` comes with structlog, which the store logs through.
#: The schema-head check reads the revision ids without Alembic (nor Alembic's Mako), the
#: settings do not load the mapper, and a SQLite store never loads the PostgreSQL dialect.
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
    "sqlalchemy.dialects.postgresql",
    "starlette",
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
    ["db"],
    ["db", "current"],
    ["db", "upgrade"],
    ["run"],
    ["reload"],
    ["sync"],
    ["validate-config"],
    ["demo"],
    ["sim"],
]

STORE_READS = [
    ["status"],
    ["runs"],
    ["failures", "list"],
    ["failures", "show", "1"],
    ["checkpoint", "show"],
    ["checkpoint", "show", "--source", "demo"],
    ["db", "current"],
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
