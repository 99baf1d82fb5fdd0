"""``damsync sim ...``: serve the built-in simulators on loopback."""

from __future__ import annotations

import click

from daemon.sim.dam.dam_app import dam_command
from daemon.sim.pim.pim_app import pim_command


@click.group()
def sim() -> None:
    """Run the built-in PIM and DAM simulators (for the demo, dry runs and tests)."""


sim.add_command(pim_command, "pim")
sim.add_command(dam_command, "dam")

__all__ = ["sim"]
