"""
The ``damsync`` command line: a table of contents, each command imported only when it runs.

``damsync --help`` and ``damsync --version`` load none of the commands: the table below carries
each command's one-line help, and a command's module (and whatever heavy library it needs:
SQLAlchemy, APScheduler, uvicorn, the simulators) is imported when that command is invoked.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import click

#: name -> (module:attribute, one-line help shown by ``damsync --help``).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "daemon.cli.run:run",
        "Run the daemon: poll every source on its schedule until SIGTERM or Ctrl-C.",
    ),
    "reload": (
        "daemon.cli.run:reload",
        "Make a running daemon re-read its configuration (sends SIGHUP).",
    ),
    "sync": (
        "daemon.cli.sync_once:sync",
        "Run one pass of every source (or of --source NAME) and print a summary.",
    ),
    "reconcile": (
        "daemon.cli.reconcile:reconcile",
        "Compare the PIM with the DAM per family; --fix repairs (exit 0 clean, 2 drift).",
    ),
    "demo": (
        "daemon.cli.demo:demo",
        "Run the daemon against the built-in DAM and PIM simulators (SQLite).",
    ),
    "status": (
        "daemon.cli.status:status",
        "Per source: cursor, data lag, last run, failures, dead letters, owner and lease.",
    ),
    "failures": (
        "daemon.cli.failure_commands:failures",
        "Inspect, retry or forget the assets that could not be written.",
    ),
    "runs": (
        "daemon.cli.status:runs",
        "Past passes, newest first: start, end, status, counts and the error line.",
    ),
    "checkpoint": (
        "daemon.cli.checkpoint_commands:checkpoint",
        "Show or rewind the sources' cursors.",
    ),
    "deletions": (
        "daemon.cli.deletion_commands:deletions",
        "Show, approve or reject the deletions the mass-deletion brake holds.",
    ),
    "events": (
        "daemon.cli.event_commands:events",
        "Show the event inbox per source and its dead events; retry them.",
    ),
    "validate-config": (
        "daemon.cli.config_check:validate_config",
        "Check the config, the store, the PIM and each DAM; map a sample of assets.",
    ),
    "structure": (
        "daemon.cli.structure_commands:structure",
        "Asset families as code: plan (exit 0 none, 2 pending, 1 error), apply, export.",
    ),
    "migrate-pam": (
        "daemon.cli.migrate_pam:migrate_pam",
        "Move legacy PAM assets (PIM <= 3.2 EE) into the Asset Manager; --dry-run plans.",
    ),
    "db": ("daemon.cli.db:db", "Manage the state store's schema (Alembic migrations)."),
    "sim": (
        "daemon.cli.simulators:sim",
        "Run the built-in PIM, DAM and legacy PAM simulators (demo, dry runs, tests).",
    ),
}


#: The commands that move many assets: glibc's heap thresholds are fixed before their modules
#: are imported (:func:`daemon.cli.startup.fixed_heap`).
FIXED_HEAP = frozenset({"run", "sync", "migrate-pam"})


class LazyGroup(click.Group):
    """
    A group whose commands are imported on first use (its ``--help`` imports none).

    Args:
        lazy: name -> (``module:attribute``, one-line help) of each command.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if args is None:
            # The process's own command line (the ``damsync`` script, ``python -m daemon``), not
            # an in-process call such as click's CliRunner: this process is one damsync command.
            from daemon.cli import startup

            startup.arm()
        return super().main(args, prog_name, complete_var, standalone_mode, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in self.lazy:
            return None
        if cmd_name in FIXED_HEAP:
            from daemon.cli import startup

            startup.fixed_heap()
        module_name, _, attribute = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Print ``damsync, version X`` and exit, as ``click.version_option`` would."""
    if not value or ctx.resilient_parsing:
        return
    # Imported here: reading the installed version costs tens of milliseconds (importlib.metadata)
    # that no other command should pay.
    from daemon import __version__

    click.echo(f"damsync, version {__version__}", color=ctx.color)
    ctx.exit()


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
def main() -> None:
    """Keep the Akeneo PIM Asset Manager in sync with your DAM."""


__all__ = ["COMMANDS", "FIXED_HEAP", "LazyGroup", "main"]
