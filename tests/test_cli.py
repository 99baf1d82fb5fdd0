"""The command line entry point."""

from __future__ import annotations

from click.testing import CliRunner

from daemon import __version__
from daemon.cli import main


def test_version():
    """`damsync --version` prints the package version."""
    result = CliRunner().invoke(main, ["--version"])
    assert 0 == result.exit_code
    assert __version__ in result.output


def test_sim_group_lists_simulators():
    """`damsync sim --help` works."""
    result = CliRunner().invoke(main, ["sim", "--help"])
    assert 0 == result.exit_code
