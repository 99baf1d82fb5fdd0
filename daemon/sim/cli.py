"""``damsync sim ...``: serve the built-in simulators on loopback."""

from __future__ import annotations

import click


@click.group()
def sim() -> None:
    """Run the built-in PIM and DAM simulators (for the demo, dry runs and tests)."""


__all__ = ["sim"]
