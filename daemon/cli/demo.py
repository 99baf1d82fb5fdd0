"""
``damsync demo``: the daemon against the built-in DAM and PIM simulators, in one process.

Both simulators are served by uvicorn on loopback in the daemon's own event loop (the DAM one
ticking every few seconds, so it keeps changing assets); a temporary configuration derived from
``config/damsync.example.toml`` points the daemon at them with a SQLite file in a temporary
directory, migrations are applied, and :func:`run_daemon` runs with a short interval. The
terminal shows one summary line per pass. Ctrl-C (or ``--duration``) stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click
import structlog
import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.applications import Starlette

from daemon.cli.run import run_daemon
from daemon.core.errors import SyncError
from daemon.service.endpoints import bind_socket
from daemon.service.runtime import Runtime
from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
#: Seconds between passes in the demo (the example configuration says 10).
DEMO_INTERVAL = 5
#: Seconds between DAM simulator ticks (each changes, adds and deletes a few assets).
DEMO_TICK = 3.0
#: Info events that make the demo unreadable; warnings and errors always show.
QUIET_EVENTS = frozenset(
    {"sync.window", "structure.family_loaded", "sync.failures_retried", "server.stopped"}
)

#: Standard-library loggers held at WARNING in the demo (start-up and job bookkeeping lines).
QUIET_LOGGERS = ("apscheduler", "alembic", "uvicorn", "uvicorn.error")


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
    """The three loopback ports: PIM simulator, DAM simulator, the daemon's endpoints."""

    pim: int
    dam: int
    daemon: int


def demo_config(example: str, ports: DemoPorts, db_path: Path, interval: float) -> str:
    """
    The example configuration, pointed at the demo's ports, database and interval.

    Args:
        example: The text of ``config/damsync.example.toml``.
        ports: Where the simulators and the daemon's endpoints listen.
        db_path: The SQLite file.
        interval: Seconds between passes.

    Returns:
        The configuration text.
    """
    replacements = (
        (r'"http://127\.0\.0\.1:8081"', f'"http://{HOST}:{ports.pim}"'),
        (r'"http://127\.0\.0\.1:8082"', f'"http://{HOST}:{ports.dam}"'),
        (r'(?m)^url = "sqlite:///damsync\.db"', f'url = "sqlite:///{db_path.as_posix()}"'),
        (r"(?m)^port = 9180\b", f"port = {ports.daemon}"),
        (r"(?m)^interval = 10\b", f"interval = {interval:g}"),
        (r"(?m)^jitter = 1\b", "jitter = 0"),
        (r'(?m)^log_format = "auto"', 'log_format = "console"'),
    )
    text = example
    for pattern, value in replacements:
        text, count = re.subn(pattern, value, text, count=1)
        if count != 1:
            raise click.ClickException(f"the example configuration has no {pattern!r} to adapt")
    return text


def _drop_quiet(_: Any, method: str, event_dict: Any) -> Any:
    """structlog processor: keep one line per pass by dropping the chattiest info events."""
    if method in ("info", "debug") and event_dict.get("event") in QUIET_EVENTS:
        raise structlog.DropEvent
    return event_dict


def _configure_demo_logs(json: bool) -> None:
    """Console lines on a terminal (JSON otherwise), minus the chattiest events."""
    from daemon.telemetry import logs

    logs.configure("info", json=json)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[_drop_quiet, *processors])


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the daemon's runtime owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _pick_ports(port_base: int) -> tuple[DemoPorts, socket.socket, socket.socket]:
    """Bind the simulators' sockets now, so a busy port fails before anything starts."""
    pim_sock = bind_socket(HOST, port_base)
    try:
        dam_sock = bind_socket(HOST, port_base + 1 if port_base else 0)
        if port_base:
            daemon_port = port_base + 2
        else:
            # The daemon binds its own port; this reservation is released just before it does.
            with bind_socket(HOST, 0) as probe:
                daemon_port = int(probe.getsockname()[1])
    except OSError:
        pim_sock.close()
        raise
    ports = DemoPorts(
        pim=int(pim_sock.getsockname()[1]),
        dam=int(dam_sock.getsockname()[1]),
        daemon=daemon_port,
    )
    return ports, pim_sock, dam_sock


async def _serve(
    app: Starlette, sock: socket.socket, *, lifespan: Literal["on", "off"]
) -> tuple[_QuietServer, asyncio.Task[None]]:
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan=lifespan, date_header=False
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # uvicorn has a flag, no event; 5 s at most
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        server.should_exit = True
        raise click.ClickException(f"a simulator did not start on port {sock.getsockname()[1]}")
    return server, task


async def run_demo(
    workdir: Path,
    *,
    duration: float | None,
    assets: int,
    port_base: int,
    registry: CollectorRegistry | None = None,
) -> int:
    """
    Serve both simulators and run the daemon against them until stopped.

    Args:
        workdir: Holds the generated configuration and the SQLite database.
        duration: Stop by itself after this many seconds (``None``: until Ctrl-C).
        assets: Assets the DAM simulator starts with.
        port_base: PIM simulator port; the DAM is on the next one, the daemon's endpoints on
            the one after (0: any free ports).
        registry: Metrics registry (the default one, with the process metrics, normally).

    Returns:
        The daemon's exit code.
    """
    files = DemoFiles.find()
    ports, pim_sock, dam_sock = _pick_ports(port_base)
    pim_url, dam_url = f"http://{HOST}:{ports.pim}", f"http://{HOST}:{ports.dam}"
    config_path = workdir / "damsync.toml"
    config_path.write_text(
        demo_config(
            files.example.read_text(encoding="utf-8"), ports, workdir / "damsync.db", DEMO_INTERVAL
        ),
        encoding="utf-8",
    )
    settings = load_settings(config_path, {})
    pim_app = create_pim_app(load_seed(files.seed), options=PimSimOptions(base_url=pim_url))
    dam_app = create_dam_app(
        DamSimOptions(assets=assets, tick_interval=DEMO_TICK, base_url=dam_url)
    )
    servers = [
        await _serve(pim_app, pim_sock, lifespan="off"),
        await _serve(dam_app, dam_sock, lifespan="on"),
    ]
    daemon_url = f"http://{HOST}:{ports.daemon}"
    for line in (
        f"damsync demo: state and configuration in {workdir}",
        f"  PIM simulator  {pim_url}",
        f"  DAM simulator  {dam_url}  ({assets} assets, changing every {DEMO_TICK:g}s)",
        f"  metrics        {daemon_url}/metrics",
        f"  readiness      {daemon_url}/readyz",
        f"  a pass every {DEMO_INTERVAL}s; Ctrl-C stops"
        + (f" (or after {duration:g}s)" if duration else ""),
    ):
        click.echo(line)
    sys.stdout.flush()
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    timer = asyncio.create_task(_stop_after(ready, duration)) if duration else None
    try:
        code = await run_daemon(
            config_path, settings, migrate=True, registry=registry, runtime_ready=ready
        )
    finally:
        if timer is not None:
            timer.cancel()
        for server, _task in servers:
            server.should_exit = True
        await asyncio.wait({task for _server, task in servers}, timeout=5)
        pim_sock.close()
        dam_sock.close()
    _print_totals(registry or REGISTRY)
    return code


async def _stop_after(ready: asyncio.Future[Runtime], duration: float) -> None:
    runtime = await ready
    await asyncio.sleep(duration)
    log.info("demo.duration_reached", duration_s=duration)
    runtime.request_stop()


def _print_totals(registry: CollectorRegistry) -> None:
    passes = registry.get_sample_value("damsync_sync_passes_total", {"source": "demo"}) or 0
    written = registry.get_sample_value("damsync_assets_written_total", {"source": "demo"}) or 0
    click.echo(f"damsync demo: {passes:.0f} passes, {written:.0f} assets written")


@click.command()
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after SECONDS.")
@click.option("--assets", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--port-base",
    default=8081,
    show_default=True,
    type=click.IntRange(0, 65533),
    help="PIM simulator port; DAM on +1, /metrics and /readyz on +2 (0: any free ports).",
)
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the configuration and database here (default: a temporary directory).",
)
def demo(duration: float | None, assets: int, port_base: int, workdir: Path | None) -> None:
    """Run the daemon against the built-in DAM and PIM simulators (SQLite, one process)."""
    _configure_demo_logs(json=not sys.stdout.isatty())
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="damsync-")))
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            code = asyncio.run(
                run_demo(workdir, duration=duration, assets=assets, port_base=port_base)
            )
        except OSError as exc:
            raise click.ClickException(f"cannot start the demo: {exc}") from exc
        except SyncError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:  # Ctrl-C before the daemon installed its handlers
            code = 0
    sys.exit(code)


if __name__ == "__main__":  # `python -m daemon.cli.demo` until the CLI registers it
    demo()

__all__ = ["DemoFiles", "DemoPorts", "demo", "demo_config", "run_demo"]
