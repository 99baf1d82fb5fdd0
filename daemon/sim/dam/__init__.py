"""
The DAM simulator: a generic REST DAM, Bynder and Cloudinary shapes, on one seeded asset set.
"""

from daemon.sim.dam.dam_app import create_dam_app, dam_command
from daemon.sim.dam.dataset import DamSimOptions

__all__ = ["DamSimOptions", "create_dam_app", "dam_command"]
