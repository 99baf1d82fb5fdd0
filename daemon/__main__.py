"""`python -m daemon` runs the CLI."""

from __future__ import annotations

from daemon.cli.main import main

main()
