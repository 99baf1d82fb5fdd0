"""
The Akeneo PIM simulator: a Starlette app written from the API reference (``akeneo-api.md``).

It shares no code with :mod:`daemon.pim` in either direction: the two are checked against the
reference, not against each other.
"""

from daemon.sim.pim.options import PimSimOptions
from daemon.sim.pim.pim_app import create_pim_app, pim_command
from daemon.sim.pim.seed import load_seed

__all__ = ["PimSimOptions", "create_pim_app", "load_seed", "pim_command"]
