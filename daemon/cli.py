"""
The ``damsync`` command line: parses arguments and settings once, then hands over.

Each sub-command lives next to what it drives and is registered here, so this module stays a
thin table of contents.
"""

from __future__ import annotations

import click

from daemon import __version__
from daemon.commands.demo import demo
from daemon.commands.once import sync
from daemon.commands.ops import checkpoint, failures, status, validate_config
from daemon.commands.run import reload, run
from daemon.sim.cli import sim
from daemon.store.cli import db


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="damsync")
def main() -> None:
    """Keep the Akeneo PIM Asset Manager in sync with your DAM."""


for command in (run, reload, sync, demo, status, failures, checkpoint, validate_config, db, sim):
    main.add_command(command)

__all__ = ["main"]
