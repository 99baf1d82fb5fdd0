"""
The legacy PAM simulator: the asset API of a 2.1-3.2 EE PIM, written from
``pam-migration.md`` §2-§3.

It shares no code with :mod:`daemon.pam` (the reader) in either direction: the two are checked
against the reference, not against each other.
"""

from daemon.sim.pam.pam_dataset import PamDataset, PamSimOptions
from daemon.sim.pam.pam_sim_app import create_pam_app, pam_command

__all__ = ["PamDataset", "PamSimOptions", "create_pam_app", "pam_command"]
