"""
``damsync demo``: the daemon against the built-in DAM and PIM simulators, in one process.

Both simulators are served by uvicorn on loopback in the daemon's own event loop; a temporary
configuration derived from ``config/damsync.example.toml`` points the daemon at them with a
SQLite file (and the pid file ``damsync reload`` reads) in a temporary directory, migrations are
applied, and :func:`~daemon.cli.run.run_daemon` runs with an interval long enough for the first
pass. Between passes the DAM simulator keeps changing, adding and deleting a few assets (never
during one: :mod:`daemon.cli.demo_session`), and posts each change as a signed webhook (Standard
Webhooks, a secret made for the session) to the daemon's ``[events]`` port, so changes reach the
PIM within seconds while polling stays on. The terminal shows one summary line per pass and per
group of webhooks written. Ctrl-C (or ``--duration``) stops everything cleanly, with exit code 0.

This module only declares the command (``demo --help`` stays light); the session itself, which
imports the whole daemon, is in :mod:`daemon.cli.demo_session`.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

HOST = "127.0.0.1"
#: Seconds between passes in the demo at least (the example configuration's interval).
DEMO_INTERVAL = 10.0
#: Assets per second a first pass is assumed to manage at worst (media binaries, a loaded
#: 2-core machine: ~50/s measured), so that the first pass ends before the next one is due.
FIRST_PASS_RATE = 20
#: Seconds between DAM simulator ticks (each changes, adds and deletes a few assets).
DEMO_TICK = 3.0


def demo_interval(assets: int) -> float:
    """Seconds between passes: the example's 10, longer when the first pass needs it."""
    return max(DEMO_INTERVAL, float(math.ceil(assets / FIRST_PASS_RATE)))


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """Where the demo reads its example configuration and the PIM simulator seed."""

    example: Path
    seed: Path

    @classmethod
    def find(cls) -> DemoFiles:
        """
        Look in the checkout next to the package, then in the working directory.

        Returns:
            The files.

        Raises:
            click.ClickException: Neither place has them (an installed wheel without a clone).
        """
        package_root = Path(__file__).resolve().parents[2]
        for root in (package_root, Path.cwd()):
            example = root / "config" / "damsync.example.toml"
            seed = root / "config" / "sim" / "pim-seed.json"
            if example.is_file() and seed.is_file():
                return cls(example, seed)
        raise click.ClickException(
            "config/damsync.example.toml and config/sim/pim-seed.json not found: "
            "run `damsync demo` from a clone of the damsync repository"
        )


@dataclass(frozen=True, slots=True)
class DemoPorts:
    """
    The four loopback ports: PIM simulator, DAM simulator, the daemon's endpoints (``/metrics``,
    ``/readyz``) and its webhook server (``[events]``).
    """

    pim: int
    dam: int
    daemon: int
    events: int


#: The demo source's events: the DAM simulator's Standard Webhooks, verified with the session's
#: secret (a file in the demo's directory; the configuration names the file, never the secret).
WEBHOOK_SECTIONS = """
# damsync demo: the DAM simulator posts every change to /webhooks/demo on the [events] port.
[sources.events]
ids = "data.id"
kind = "type"
deleted = ["asset.deleted"]

[sources.webhook]
style = "standard"
secrets = [{{ file = {secret_file} }}]
"""


def demo_config(
    example: str, ports: DemoPorts, db_path: Path, interval: float, secret_file: Path
) -> str:
    """
    The example configuration, pointed at the demo's ports, database and interval, its source
    fed by the DAM simulator's webhooks.

    Args:
        example: The text of ``config/damsync.example.toml``.
        ports: Where the simulators, the daemon's endpoints and its webhook server listen.
        db_path: The SQLite file; the pid file goes next to it (``damsync.pid``).
        interval: Seconds between passes.
        secret_file: The file holding the webhook secret (``whsec_...``).

    Returns:
        The configuration text.
    """
    replacements = (
        (r'"http://127\.0\.0\.1:8081"', f'"http://{HOST}:{ports.pim}"'),
        (r'"http://127\.0\.0\.1:8082"', f'"http://{HOST}:{ports.dam}"'),
        (r'(?m)^url = "sqlite:///damsync\.db"', f'url = "sqlite:///{db_path.as_posix()}"'),
        (
            r'(?m)^pid_file = "damsync\.pid"',
            f'pid_file = "{db_path.with_suffix(".pid").as_posix()}"',
        ),
        (r"(?m)^port = 9180\b", f"port = {ports.daemon}"),
        (r"(?m)^port = 9181\b", f"port = {ports.events}"),
        (r"(?m)^interval = 10\b", f"interval = {interval:g}"),
        (r"(?m)^jitter = 1\b", "jitter = 0"),
        (r'(?m)^log_format = "auto"', 'log_format = "console"'),
    )
    text = example
    for pattern, value in replacements:
        text, count = re.subn(pattern, value, text, count=1)
        if count != 1:
            raise click.ClickException(f"the example configuration has no {pattern!r} to adapt")
    # Appended, so they belong to the example's last (and only) [[sources]] entry.
    return text + WEBHOOK_SECTIONS.format(secret_file=json.dumps(secret_file.as_posix()))


@click.command()
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after SECONDS.")
@click.option("--assets", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--port-base",
    default=8081,
    show_default=True,
    type=click.IntRange(0, 65532),
    help="PIM simulator port; DAM on +1, /metrics and /readyz on +2, webhooks on +3 "
    "(0: any free ports).",
)
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the configuration and database here (default: a temporary directory).",
)
def demo(duration: float | None, assets: int, port_base: int, workdir: Path | None) -> None:
    """Run the daemon against the built-in DAM and PIM simulators (SQLite, one process)."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="damsync-")))
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            code = _run(workdir, duration=duration, assets=assets, port_base=port_base)
        except KeyboardInterrupt:  # Ctrl-C before the daemon installed its handlers: a stop
            code = 0
    sys.exit(code)


def _run(workdir: Path, *, duration: float | None, assets: int, port_base: int) -> int:
    """Import the session (inside the Ctrl-C guard: it takes a while) and run it."""
    import asyncio

    from daemon.cli.demo_session import configure_demo_logs, run_demo
    from daemon.core.errors import SyncError

    configure_demo_logs(json=not sys.stdout.isatty())
    try:
        return asyncio.run(run_demo(workdir, duration=duration, assets=assets, port_base=port_base))
    except OSError as exc:
        raise click.ClickException(f"cannot start the demo: {exc}") from exc
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":  # `python -m daemon.cli.demo` works too
    demo()

__all__ = ["WEBHOOK_SECTIONS", "DemoFiles", "DemoPorts", "demo", "demo_config", "demo_interval"]
