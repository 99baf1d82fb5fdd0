"""
The legacy Product Asset Manager as a source for ``damsync migrate-pam``: the records
(:mod:`pam_records`), the API reader (:mod:`pam_api`, :mod:`pam_parse`) and the CSV readers of
both export layouts with the binaries directory (:mod:`pam_csv`, :mod:`pam_spill`,
:mod:`pam_binaries`). Every reader streams: one page or one row at a time.

It shares no code with :mod:`daemon.sim.pam`, the simulator it is tested against.
"""

from daemon.pam.pam_api import Downloaded, PamApi, pam_upstream
from daemon.pam.pam_binaries import BinariesDir
from daemon.pam.pam_csv import CsvExport, PamInputError
from daemon.pam.pam_records import (
    CODE_RULE,
    PamAsset,
    PamCategory,
    PamFile,
    PamNote,
    PamRead,
    PamSkip,
)

__all__ = [
    "CODE_RULE",
    "BinariesDir",
    "CsvExport",
    "Downloaded",
    "PamApi",
    "PamAsset",
    "PamCategory",
    "PamFile",
    "PamInputError",
    "PamNote",
    "PamRead",
    "PamSkip",
    "pam_upstream",
]
