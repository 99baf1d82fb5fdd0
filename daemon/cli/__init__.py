"""
The ``damsync`` command line: every sub-command, each importing what it needs only when run.
"""

from daemon.cli.main import main

__all__ = ["main"]
