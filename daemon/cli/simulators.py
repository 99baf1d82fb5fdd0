"""
``damsync sim ...``: serve the built-in simulators on loopback.

Each simulator (Starlette, uvicorn) is imported when it runs, so ``sim --help`` stays light.
"""

from __future__ import annotations

import click

from daemon.cli.main import LazyGroup

#: name -> (module:attribute, one-line help shown by ``damsync sim --help``).
SIMULATORS: dict[str, tuple[str, str]] = {
    "pim": (
        "daemon.sim.pim.pim_app:pim_command",
        "Serve the Akeneo PIM simulator on loopback (demo, dry runs, end-to-end tests).",
    ),
    "dam": (
        "daemon.sim.dam.dam_app:dam_command",
        "Serve the simulated DAM (generic, Bynder and Cloudinary shapes) on loopback.",
    ),
    "pam": (
        "daemon.sim.pam.pam_sim_app:pam_command",
        "Serve a legacy PAM (2.1-3.2 EE asset API) on loopback, for migrate-pam.",
    ),
}


@click.group(cls=LazyGroup, lazy=SIMULATORS)
def sim() -> None:
    """Run the built-in PIM, DAM and legacy PAM simulators (demo, dry runs, tests)."""


__all__ = ["sim"]
