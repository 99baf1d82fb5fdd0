"""
One ``damsync demo`` session: both simulators served in the daemon's event loop, the DAM changed
between passes and posting each change as a signed webhook, the daemon run until stopped, and
the totals printed (every :data:`TOTALS_EVERY` seconds while something happens, and at the end).

The DAM simulator changes, adds and deletes a few assets every few seconds, but never while a
scheduled job runs (:class:`JobGate`, fed by the scheduler's job events), and only once the
first pass has finished: a pass never sees an asset vanish between its listing and its binary
download, so the demo shows clean passes. Each change is also a webhook (Standard Webhooks, signed
with a secret made for the session and kept in ``webhook-secret`` in the demo's directory): the
inbox consumer writes a tick's changes and deletions about a second later, so the next pass
mostly finds them unchanged. The consumer is not a scheduled job, so a tick is not held back
for it; a tick comes ``DEMO_TICK`` seconds after the previous one, long after its consume.
Imported by :mod:`daemon.cli.demo` when the demo runs (it pulls the whole daemon).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import click
import structlog
import uvicorn
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.applications import Starlette

from daemon.cli.demo import (
    DEMO_TICK,
    HOST,
    DemoFiles,
    DemoPorts,
    demo_config,
    demo_interval,
)
from daemon.cli.run import run_daemon
from daemon.service.endpoints import bind_socket
from daemon.service.runtime import Runtime
from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.event_options import EventFeedOptions
from daemon.sim.dam.plumbing import DamSim
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions

log = structlog.get_logger(__name__)

#: Info events that make the demo unreadable; warnings and errors always show.
QUIET_EVENTS = frozenset(
    {"sync.window", "structure.family_loaded", "sync.failures_retried", "server.stopped"}
)

#: Standard-library loggers held at WARNING in the demo (start-up and job bookkeeping lines).
QUIET_LOGGERS = ("apscheduler", "alembic", "uvicorn", "uvicorn.error")

#: Seconds the simulators keep an idle connection: longer than the daemon's clients keep theirs
#: (httpx: 5 s), so the client always closes first and never reuses a connection the server is
#: closing at that moment (a "server disconnected" retry between passes).
KEEP_ALIVE = 60

#: Seconds between two ``demo.totals`` lines (passes, assets written, webhooks received).
TOTALS_EVERY = 30.0

#: The demo's source (``config/damsync.example.toml``): its webhooks go to /webhooks/demo.
SOURCE = "demo"

#: The scheduler events that open and close :class:`JobGate`.
JOB_EVENTS = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR


def _drop_quiet(_: Any, method: str, event_dict: Any) -> Any:
    """structlog processor: keep one line per pass by dropping the chattiest info events."""
    if method in ("info", "debug") and event_dict.get("event") in QUIET_EVENTS:
        raise structlog.DropEvent
    return event_dict


def configure_demo_logs(json: bool) -> None:
    """Console lines on a terminal (JSON otherwise), minus the chattiest events."""
    from daemon.telemetry import logs

    logs.configure("info", json=json)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[_drop_quiet, *processors])


class JobGate:
    """
    Whether a scheduled job (a pass, a retry run, a reconcile sweep) is running right now.

    Fed by the scheduler's events: a job is counted from its submission (before its first step
    runs) to its end. A listener attached after a job was submitted only sees that job end; the
    count never goes below zero, and :attr:`first_done` waits for a job's end in any case.
    """

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.idle.set()
        self.first_done = asyncio.Event()
        self._running = 0

    def on_event(self, event: JobEvent) -> None:
        """APScheduler listener (called in the event loop's thread)."""
        if event.code == EVENT_JOB_SUBMITTED:
            self._running += 1
            self.idle.clear()
            return
        self._running = max(0, self._running - 1)
        self.first_done.set()
        if self._running == 0:
            self.idle.set()


async def _change_dam_between_jobs(
    ready: asyncio.Future[Runtime], sim: DamSim, every: float
) -> None:
    """Tick the DAM simulator every ``every`` seconds, after the first pass, between jobs."""
    runtime = await ready
    # The scheduler exists once the application started; the runtime announces nothing then.
    while runtime.scheduler is None:
        if runtime.stopped.is_set():
            return
        await asyncio.sleep(0.01)
    gate = JobGate()
    runtime.scheduler.add_listener(gate.on_event, JOB_EVENTS)
    await gate.first_done.wait()
    while not runtime.stop_requested.is_set():
        await asyncio.sleep(every)
        while not gate.idle.is_set():
            await gate.idle.wait()
        # No await between the check above and the tick: no job can start in between.
        result = sim.store.tick(sim.now_us())
        log.info(
            "dam_sim.ticked",
            tick=result.tick,
            changed=len(result.changed),
            added=len(result.added),
            deleted=len(result.deleted),
        )


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
            daemon_port, events_port = port_base + 2, port_base + 3
        else:
            # The daemon binds its own ports; these reservations end just before it does.
            with bind_socket(HOST, 0) as probe, bind_socket(HOST, 0) as other:
                daemon_port = int(probe.getsockname()[1])
                events_port = int(other.getsockname()[1])
    except OSError:
        pim_sock.close()
        raise
    ports = DemoPorts(
        pim=int(pim_sock.getsockname()[1]),
        dam=int(dam_sock.getsockname()[1]),
        daemon=daemon_port,
        events=events_port,
    )
    return ports, pim_sock, dam_sock


def _webhook_secret(workdir: Path) -> tuple[str, Path]:
    """A Standard Webhooks secret for this session, and the file (owner-only) holding it."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
    path = workdir / "webhook-secret"
    path.unlink(missing_ok=True)  # a previous session's (--dir): created afresh, mode 0600
    path.touch(mode=0o600)
    path.write_text(secret, encoding="utf-8")
    return secret, path


async def _serve(
    app: Starlette, sock: socket.socket, *, lifespan: Literal["on", "off"]
) -> tuple[_QuietServer, asyncio.Task[None]]:
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        date_header=False,
        timeout_keep_alive=KEEP_ALIVE,
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
        workdir: Holds the generated configuration, the SQLite database and the pid file.
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
    webhooks_url = f"http://{HOST}:{ports.events}/webhooks/{SOURCE}"
    interval = demo_interval(assets)
    secret, secret_file = _webhook_secret(workdir)
    config_path = workdir / "damsync.toml"
    config_path.write_text(
        demo_config(
            files.example.read_text(encoding="utf-8"),
            ports,
            workdir / "damsync.db",
            interval,
            secret_file,
        ),
        encoding="utf-8",
    )
    settings = load_settings(config_path, {})
    pim_app = create_pim_app(load_seed(files.seed), options=PimSimOptions(base_url=pim_url))
    # No ticker of its own: _change_dam_between_jobs ticks it. Each change is also a webhook.
    feed = EventFeedOptions(style="standard", webhook_url=webhooks_url, secret=secret)
    dam_app = create_dam_app(DamSimOptions(assets=assets, base_url=dam_url), events=feed)
    servers = [
        await _serve(pim_app, pim_sock, lifespan="off"),
        await _serve(dam_app, dam_sock, lifespan="on"),
    ]
    daemon_url = f"http://{HOST}:{ports.daemon}"
    for line in (
        f"damsync demo: state and configuration in {workdir}",
        f"  PIM simulator  {pim_url}",
        f"  DAM simulator  {dam_url}  ({assets} assets; between passes, every {DEMO_TICK:g}s, "
        "a few change, appear or go)",
        f"  metrics        {daemon_url}/metrics",
        f"  readiness      {daemon_url}/readyz",
        f"  webhooks       {webhooks_url}  (the DAM simulator posts each change, signed)",
        f"  a pass every {interval:g}s; Ctrl-C stops"
        + (f" (or after {duration:g}s)" if duration else ""),
    ):
        click.echo(line)
    sys.stdout.flush()
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    helpers = [
        asyncio.create_task(_change_dam_between_jobs(ready, dam_app.state.dam, DEMO_TICK)),
        asyncio.create_task(_log_totals(registry or REGISTRY, TOTALS_EVERY)),
    ]
    if duration:
        helpers.append(asyncio.create_task(_stop_after(ready, duration)))
    try:
        code = await run_daemon(
            config_path, settings, migrate=True, registry=registry, runtime_ready=ready
        )
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
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


def demo_totals(registry: CollectorRegistry) -> dict[str, int]:
    """
    Passes, assets they wrote, webhooks received, and the assets the inbox consumer settled
    from them (written, unchanged or deleted).
    """

    def value(name: str, **labels: str) -> int:
        return int(registry.get_sample_value(name, {"source": SOURCE, **labels}) or 0)

    return {
        "passes": value("damsync_sync_passes_total"),
        "written": value("damsync_assets_written_total"),
        "webhooks": value("damsync_events_received_total", origin="webhook"),
        "by_events": value("damsync_events_consumed_total", outcome="written")
        + value("damsync_events_consumed_total", outcome="deleted"),
    }


async def _log_totals(registry: CollectorRegistry, every: float) -> None:
    """One ``demo.totals`` line every ``every`` seconds when something changed since the last."""
    last: dict[str, int] = {}
    while True:
        await asyncio.sleep(every)
        totals = demo_totals(registry)
        if totals != last:
            log.info(
                "demo.totals",
                passes=totals["passes"],
                assets_written=totals["written"],
                webhooks_received=totals["webhooks"],
                assets_settled_by_events=totals["by_events"],
            )
            last = totals


def _print_totals(registry: CollectorRegistry) -> None:
    totals = demo_totals(registry)
    click.echo(
        f"damsync demo: {totals['passes']} passes, {totals['written']} assets written, "
        f"{totals['webhooks']} webhooks received ({totals['by_events']} assets settled from them)"
    )


__all__ = ["JobGate", "configure_demo_logs", "demo_totals", "run_demo"]
