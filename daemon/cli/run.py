"""
``damsync run``: the long-running daemon, and ``damsync reload`` to make it re-read its config.

The HTTP endpoints are served in the same event loop as the scheduler. Start-up refuses a
database whose schema is not at head (``damsync db upgrade`` fixes it, or ``--migrate``).

The service (scheduler, HTTP server, engine) is imported inside :func:`run_daemon`, so that
``run --help`` and ``reload`` start without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from daemon.cli.common import config_option, load
from daemon.core.errors import CheckpointError, ConfigError, SyncError

if TYPE_CHECKING:
    import httpx
    from prometheus_client import CollectorRegistry

    from daemon.service.readiness import Check
    from daemon.service.runtime import Runtime
    from daemon.service.webhook_gate import WebhookGate
    from daemon.settings.root import Settings


class Readiness:
    """``/readyz``: asks whatever application the runtime currently runs."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def checks(self) -> Sequence[Check]:
        from daemon.service.readiness import Check
        from daemon.service.wiring import SyncApp

        app = self._runtime.app
        if not isinstance(app, SyncApp):
            return [Check("startup", False, "the daemon is starting")]
        return await app.checks()


async def run_daemon(
    config_path: str | Path,
    settings: Settings,
    *,
    migrate: bool = False,
    registry: CollectorRegistry | None = None,
    handle_signals: bool = True,
    environ: Mapping[str, str] | None = None,
    pim_transport: httpx.AsyncBaseTransport | None = None,
    pim_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    source_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    runtime_ready: asyncio.Future[Runtime] | None = None,
    webhook_started: Callable[[int], None] | None = None,
) -> int:
    """
    Run the daemon until stopped; returns the exit code.

    Args:
        config_path: Re-read on every reload.
        settings: The configuration as first loaded.
        migrate: Apply migrations before starting (single-instance convenience).
        registry: Metrics registry (the default one in production).
        handle_signals: Install the signal handlers (tests drive the runtime directly).
        environ: Environment for reloads (defaults to ``os.environ``).
        pim_transport: Injected PIM transport (tests): of every PIM not in ``pim_transports``.
        pim_transports: Injected PIM transports by PIM name (tests).
        source_transports: Injected DAM transports (tests).
        runtime_ready: Resolved with the runtime once it exists (tests).
        webhook_started: Called with the webhook server's port once it listens (tests, demo).
    """
    import structlog
    from prometheus_client import REGISTRY

    from daemon.service.runtime import Runtime
    from daemon.service.webhook_gate import WebhookGate
    from daemon.service.wiring import Services, SyncApp
    from daemon.settings.root import load_settings

    log = structlog.get_logger(__name__)
    env = dict(environ if environ is not None else os.environ)
    services = Services.create(settings, registry=registry or REGISTRY)
    if migrate:
        await asyncio.to_thread(services.store.upgrade)
    current = {"settings": settings}
    # The webhook server lives as long as the process; each configuration installs its app.
    gate = WebhookGate() if any(s.webhook is not None for s in settings.sources) else None

    async def build() -> SyncApp:
        fresh = current["settings"]
        if runtime.app is not None:  # a reload: read the file again
            fresh = await asyncio.to_thread(load_settings, config_path, env)
            if fresh.store.url != settings.store.url:
                log.warning("config.store_url_changed", note="takes effect after a restart")
        app = SyncApp.build(
            fresh,
            services,
            pim_transport=pim_transport,
            pim_transports=pim_transports,
            source_transports=source_transports,
            events=True,
            gate=gate,
        )
        current["settings"] = fresh
        return app

    runtime = Runtime(build, handle_signals=handle_signals)
    if runtime_ready is not None:
        runtime_ready.set_result(runtime)
    stop_server = asyncio.Event()
    servers = _start_servers(
        settings, services.registry, Readiness(runtime), gate, stop_server, webhook_started
    )
    pid_file = Path(settings.runtime.pid_file) if settings.runtime.pid_file else None
    try:
        if pid_file is not None:
            if handle_signals:
                # Once the pid file exists `damsync reload` may send SIGHUP, possibly before the
                # runtime installs its handlers: it must reload the daemon, not end it.
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGHUP, runtime.request_reload)
            try:
                pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
            except OSError as exc:
                pid_file = None  # not written: nothing to remove at exit
                click.echo(f"damsync: cannot write runtime.pid_file: {exc}", err=True)
                return 1
        return await runtime.run()
    except (CheckpointError, ConfigError) as exc:
        log.error("runtime.refused_to_start", error=str(exc))
        click.echo(f"damsync: {exc}", err=True)
        return 1
    finally:
        stop_server.set()
        for task in servers:
            with contextlib.suppress(Exception):
                await task
        await asyncio.to_thread(services.store.dispose)
        if pid_file is not None:
            with contextlib.suppress(FileNotFoundError):
                pid_file.unlink()


def _start_servers(
    settings: Settings,
    registry: CollectorRegistry,
    readiness: Readiness,
    gate: WebhookGate | None,
    stop: asyncio.Event,
    webhook_started: Callable[[int], None] | None,
) -> list[asyncio.Task[None]]:
    """Start the metrics/health server and, with webhook sources, the webhook server."""
    from daemon.service.endpoints import ServerLimits, build_app, serve

    limits = ServerLimits.from_settings(settings.server)
    tasks = []
    if settings.server.enabled:
        http = build_app(registry, readiness, metrics_cache=settings.server.metrics_cache)
        tasks.append(
            asyncio.create_task(
                serve(http, settings.server.host, settings.server.port, stop, limits=limits)
            )
        )
    if gate is not None:
        # Its own address: it may face the DAMs while /metrics stays internal.
        webhook = serve(
            gate,
            settings.events.host,
            settings.events.port,
            stop,
            on_started=webhook_started,
            limits=limits,
        )
        tasks.append(asyncio.create_task(webhook))
    return tasks


@click.command()
@config_option
@click.option(
    "--migrate/--no-migrate",
    default=False,
    help="Apply pending migrations first (for a single instance; otherwise run "
    "`damsync db upgrade` as its own step).",
)
def run(config_path: str, migrate: bool) -> None:
    """Run the daemon: poll every source on its schedule until SIGTERM or Ctrl-C."""
    settings = load(config_path)
    try:
        code = asyncio.run(run_daemon(config_path, settings, migrate=migrate))
    except SyncError as exc:
        click.echo(f"damsync: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


@click.command()
@click.option("--pid", type=click.IntRange(min=1), help="The daemon's process id.")
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False),
    help="The daemon's pid file (runtime.pid_file).",
)
@click.option("--config", "config_path", envvar="DAMSYNC_CONFIG", type=click.Path(dir_okay=False))
def reload(pid: int | None, pid_file: str | None, config_path: str | None) -> None:
    """Make a running daemon re-read its configuration (sends SIGHUP).

    The new configuration is validated first; the daemon keeps its running configuration
    when the new one is invalid, and logs why. Exit 1 (one line saying where it looked) when
    no damsync daemon answers.
    """
    if config_path:
        # Fail here, loudly, rather than in the daemon's log only.
        settings = load(config_path, configure_logs=False)
        if pid is None and pid_file is None:
            pid_file = settings.runtime.pid_file
            if not pid_file:
                raise click.UsageError(
                    f"{config_path} sets no runtime.pid_file: set it (and restart the daemon), "
                    "or give --pid or --pid-file"
                )
    path: Path | None = None
    if pid is None:
        if not pid_file:
            raise click.UsageError("give --pid, --pid-file, or a --config with runtime.pid_file")
        path = Path(pid_file).absolute()
        pid = _read_pid(path)
    named = f"{path} names process {pid}" if path else f"process {pid}"
    _check_damsync(pid, named)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise click.ClickException(f"damsync is not running: {named}, which has exited") from None
    except PermissionError:
        raise click.ClickException(
            f"cannot signal process {pid}: permission denied (run reload as the daemon's user)"
        ) from None
    click.echo(f"reload requested from process {pid}")


def _read_pid(path: Path) -> int:
    """The process id in a pid file; one line (exit 1) when there is none to signal."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise click.ClickException(f"damsync is not running: no pid file {path}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read pid file {path}: {exc.strerror}") from None
    # 0 and negative ids name process groups for kill() (-1: every process): never signalled.
    if not text.isdigit() or int(text) <= 0:
        raise click.ClickException(f"pid file {path} holds no process id")
    return int(text)


def _check_damsync(pid: int, named: str) -> None:
    """
    Refuse to hang up a process that is not a damsync daemon (a stale pid file's reused pid).

    Linux tells through ``/proc/PID/cmdline``; elsewhere the pid is trusted as it is.

    Args:
        pid: The process to signal.
        named: How the messages name it ("<pid file> names process N" or "process N").
    """
    if pid <= 0:  # a process group for kill(); the options and _read_pid never let one through
        raise click.ClickException(f"{pid} is not a process id")
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            raise click.ClickException(
                f"damsync is not running: {named}, which has exited"
            ) from None
        return
    except OSError:
        return
    args = [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
    launched = any(Path(arg).name == "damsync" for arg in args[:3]) or any(
        args[i : i + 2] == ["-m", "daemon"] for i in range(len(args))
    )
    if not (launched and {"run", "demo"} & set(args)):
        shown = " ".join(args)[:60] or "no command line"
        raise click.ClickException(
            f"damsync is not running: {named}, which is not a damsync daemon ({shown})"
        )


__all__ = ["Readiness", "reload", "run", "run_daemon"]
