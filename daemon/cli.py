"""
The ``damsync`` command line: parses arguments and settings once, then hands over.

Each sub-command lives next to what it drives and is registered here, so this module stays a
thin table of contents.
"""

from __future__ import annotations

import click

from daemon import __version__
from daemon.sim.cli import sim
from daemon.store.cli import db


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="damsync")
def main() -> None:
    """Keep the Akeneo PIM Asset Manager in sync with your DAM."""


main.add_command(sim)
main.add_command(db)

__all__ = ["main"]
