"""The command line entry point."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from daemon import __version__
from daemon.cli.main import COMMANDS, main


def test_version():
    """`damsync --version` prints the package version."""
    result = CliRunner().invoke(main, ["--version"])
    assert 0 == result.exit_code
    assert __version__ in result.output


def test_sim_group_lists_simulators():
    """`damsync sim --help` works."""
    result = CliRunner().invoke(main, ["sim", "--help"])
    assert 0 == result.exit_code


def test_every_command_of_the_table_resolves_to_its_click_command():
    """Each lazy entry imports a click command registered under the same name."""
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and name == command.name


def test_help_imports_no_command_module_nor_heavy_library():
    """`damsync --help` stays light: no command module, no SQLAlchemy, APScheduler or httpx."""
    code = (
        "import sys\n"
        "from daemon.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('sqlalchemy', 'apscheduler', 'uvicorn', 'httpx', 'daemon.cli.run',"
        " 'daemon.sim')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in out.stdout
    assert "validate-config" in out.stdout
