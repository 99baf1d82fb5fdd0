"""
The long-running daemon: scheduler, signals, reload, HTTP endpoints, ordered shutdown.

- One APScheduler 3.x job per source (interval or cron, with jitter), ``max_instances=1``,
  ``coalesce=True`` and an explicit ``misfire_grace_time``, in a ``MemoryJobStore`` (our real
  state is the checkpoint table; a job store is never shared), plus one job that retries due
  failures.
- Signals go through ``loop.add_signal_handler`` and only set events. The first SIGTERM/SIGINT
  stops new passes and lets the running batches commit within ``shutdown_grace``; a second one
  exits at once. SIGHUP re-reads the configuration and applies it, keeping the running one on
  any error.
- Components close in reverse order of creation: scheduler, HTTP server, sources and PIM
  client, database engine.
- A heartbeat renews the leases; on PostgreSQL a job runs only where its source is owned
  (:mod:`daemon.engine.replica_leases`), and each PIM's budget is shared by the replicas
  writing it (:mod:`daemon.engine.replica_share`). A second process on SQLite exits 3 at start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from asyncio import Event
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from daemon.engine.replica_leases import EXIT_SECOND_PROCESS, SourceOwnership
from daemon.engine.replica_share import PimBudgets
from daemon.engine.source_jobs import replica_ownership
from daemon.service.job_schedule import Schedule
from daemon.settings.replicas import ReplicaSettings
from daemon.telemetry import logs

if TYPE_CHECKING:
    # Imported where the scheduler is built: `sync --once` wires an app and never schedules,
    # and APScheduler's scheduler (its plugin entry points among them) is a heavy import.
    from apscheduler.events import JobExecutionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = structlog.get_logger(__name__)

RETRY_JOB_ID = "__retry_failures__"


class SourceRunner(Protocol):
    """One configured source, wired to its components."""

    @property
    def name(self) -> str: ...

    @property
    def schedule(self) -> Schedule: ...

    async def run_once(self, stop: asyncio.Event) -> Any: ...

    async def retry_due(self, stop: asyncio.Event) -> Any: ...

    async def reconcile(self, stop: asyncio.Event) -> Any: ...


class Application(Protocol):
    """What the runtime drives; built from the configuration by ``daemon.wiring``."""

    @property
    def runners(self) -> Sequence[SourceRunner]: ...

    @property
    def retry_interval(self) -> float: ...

    @property
    def shutdown_grace(self) -> float: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def scheduler_event(self, kind: str, job: str) -> None: ...


class Runtime:
    """
    Runs an :class:`Application` until told to stop.

    Args:
        build: Builds the application from a fresh configuration (called at start and on reload).
        handle_signals: Install SIGTERM/SIGINT/SIGHUP handlers (tests pass False).
        replicas: Heartbeat settings (default: the application's ``settings.replicas``).
    """

    def __init__(
        self,
        build: Callable[[], Awaitable[Application]],
        *,
        handle_signals: bool = True,
        replicas: ReplicaSettings | None = None,
    ) -> None:
        self._build = build
        self._handle_signals = handle_signals
        self._replicas = replicas
        self.ownership: SourceOwnership | None = None
        self._hb_stop = asyncio.Event()
        self._heartbeat: asyncio.Future[None] | None = None
        self.stop_requested = asyncio.Event()
        self.stopped = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._signals_seen = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.app: Application | None = None
        self.scheduler: AsyncIOScheduler | None = None

    # -- signals --------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._signals_seen += 1
        if self._signals_seen > 1:
            log.warning("runtime.second_signal_exit")
            os._exit(130)  # second signal: exit at once, committed state is safe on disk
        log.info("runtime.stopping")
        self.stop_requested.set()

    def request_reload(self) -> None:
        self._reload_requested.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    # -- jobs -----------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any], name: str) -> Awaitable[Any]:
        """Run a job body as a tracked task, so shutdown can wait for it."""

        async def wrapper() -> Any:
            return await coro

        task = asyncio.ensure_future(wrapper())
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _may_run(self, name: str) -> bool:
        """Not stopping, and the source is this replica's (or the sources are not shared)."""
        owned = self.ownership is None or self.ownership.may_run(name)
        return owned and not self.stop_requested.is_set()

    async def _run_job(self, name: str, task: str, body: Callable[[Event], Awaitable[Any]]) -> Any:
        """Run one job of source ``name``; its stop event is also set if its lease is lost."""
        logs.clear()
        try:
            if self.ownership is None:
                return await self._spawn(body(self.stop_requested), task)
            with self.ownership.job_stop(name, self.stop_requested) as stop:
                return await self._spawn(body(stop), task)
        finally:
            logs.clear()

    def _source_job(self, runner: SourceRunner, kind: str = "") -> Callable[[], Awaitable[Any]]:
        """The pass of ``runner`` (``kind`` empty) or its ``reconcile`` sweep."""
        body = runner.reconcile if kind == "reconcile" else runner.run_once
        task = f"{runner.name}:{kind}" if kind else runner.name

        async def job() -> Any:
            if self._may_run(runner.name):
                return await self._run_job(runner.name, task, body)
            return None

        return job

    def _retry_job(self) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            assert self.app is not None
            for runner in self.app.runners:
                if self._may_run(runner.name):  # False for every runner once stopping
                    await self._run_job(runner.name, f"{runner.name}:retry", runner.retry_due)

        return job

    def _ownership(self, app: Application) -> SourceOwnership | None:
        """This replica's heartbeat (none for fake runners); settings: given, or the app's."""
        found = self._replicas or getattr(getattr(app, "settings", None), "replicas", None)
        settings = found if isinstance(found, ReplicaSettings) else ReplicaSettings()
        ownership = replica_ownership(
            app.runners, heartbeat=settings.heartbeat_for, spread=settings.spread
        )
        if ownership is not None:
            ownership.use_budgets(_budgets(app))
        return ownership

    def _run_now(self, source: str) -> None:
        """A source just taken over runs at once, not at its next fire time."""
        job = self.scheduler.get_job(source) if self.scheduler is not None else None
        if job is not None and not self.stop_requested.is_set():
            job.modify(next_run_time=_now())

    def _schedule(self, app: Application) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        assert self.scheduler is not None
        wanted = {r.name for r in app.runners} | {RETRY_JOB_ID}
        wanted |= {f"{r.name}:reconcile" for r in app.runners if r.schedule.reconcile_interval}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        for runner in app.runners:
            # At start every source runs at once; on a reload the trigger decides (APScheduler
            # reads an explicit next_run_time=None as "paused", so it is left out then).
            first: dict[str, Any] = {} if self._started_once else {"next_run_time": _now()}
            self.scheduler.add_job(
                self._source_job(runner),
                trigger=runner.schedule.trigger(),
                id=runner.name,
                name=f"sync {runner.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=runner.schedule.grace,
                replace_existing=True,
                **first,
            )
            if runner.schedule.reconcile_interval:
                self.scheduler.add_job(
                    self._source_job(runner, "reconcile"),
                    trigger=IntervalTrigger(seconds=runner.schedule.reconcile_interval),
                    id=f"{runner.name}:reconcile",
                    name=f"reconcile {runner.name}",
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(runner.schedule.reconcile_interval)),
                    replace_existing=True,
                )
        self.scheduler.add_job(
            self._retry_job(),
            trigger=IntervalTrigger(seconds=app.retry_interval),
            id=RETRY_JOB_ID,
            name="retry due failures",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(app.retry_interval)),
            replace_existing=True,
        )

    def _on_event(self, event: JobExecutionEvent) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        if self.app is None:
            return
        kind = {
            EVENT_JOB_MISSED: "missed",
            EVENT_JOB_MAX_INSTANCES: "skipped",
            EVENT_JOB_ERROR: "error",
        }.get(event.code, "other")
        # A run skipped because the previous pass still runs is expected under load (and
        # counted); a missed run or a job error is worth a warning.
        level = log.info if kind == "skipped" else log.warning
        level("scheduler.job_event", job=event.job_id, kind=kind)
        self.app.scheduler_event(kind, event.job_id)

    # -- reload -----------------------------------------------------------------------------

    async def _reload(self) -> None:
        """
        Build a new application from the configuration; keep the old one on any error.

        Running passes finish first (the scheduler is paused meanwhile), so that a source never
        runs twice at once across the switch; nothing is cancelled by a reload.
        """
        fresh: Application | None = None
        try:
            fresh = await self._build()
            await fresh.start()
        except Exception as exc:  # any error keeps the running configuration
            log.error("config.reload_failed", error=str(exc), kept="running configuration")
            if fresh is not None:
                await fresh.aclose()
            return
        assert self.scheduler is not None
        self.scheduler.pause()
        try:
            pending = {t for t in self._tasks if not t.done()}
            if pending:
                log.info("config.reload_waiting", passes=len(pending))
                await asyncio.wait(pending)
            old, self.app = self.app, fresh
            self._schedule(fresh)
            if self.ownership is not None:
                self.ownership.sources = [r.name for r in fresh.runners]
                self.ownership.use_budgets(_budgets(fresh))  # its new limiters, shared
        finally:
            self.scheduler.resume()
        log.info("config.reloaded", sources=[r.name for r in fresh.runners])
        if old is not None:
            await old.aclose()

    # -- lifecycle ------------------------------------------------------------------------

    _started_once = False

    async def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        self.app = await self._build()
        await self.app.start()
        self.ownership = self._ownership(self.app)
        if self.ownership is not None and not await self.ownership.join():
            await self.app.aclose()
            self.stopped.set()
            return EXIT_SECOND_PROCESS
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )
        self._schedule(self.app)
        self._started_once = True
        self.scheduler.start()
        if self._handle_signals:
            self._install_signals()
        if self.ownership is not None:
            self._heartbeat = asyncio.ensure_future(
                self.ownership.run(self._hb_stop, self._run_now)
            )
        log.info("runtime.started", sources=[r.name for r in self.app.runners], pid=os.getpid())
        try:
            while not self.stop_requested.is_set():
                reload_wait = asyncio.ensure_future(self._reload_requested.wait())
                stop_wait = asyncio.ensure_future(self.stop_requested.wait())
                await asyncio.wait({reload_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                reload_wait.cancel()
                stop_wait.cancel()
                if self._reload_requested.is_set() and not self.stop_requested.is_set():
                    self._reload_requested.clear()
                    await self._reload()
        finally:
            await self._shutdown()
        return 0

    async def _drain(self, grace: float) -> None:
        """Wait for running passes to commit their batch, then cancel what is left."""
        pending = {t for t in self._tasks if not t.done()}
        if not pending:
            return
        done, still = await asyncio.wait(pending, timeout=grace)
        for task in still:
            log.warning("runtime.cancelling_pass", task=task.get_name())
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=1.0)

    async def _shutdown(self) -> None:
        started = time.monotonic()
        assert self.app is not None
        if self.scheduler is not None:
            self.scheduler.pause()
        await self._drain(self.app.shutdown_grace)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        await self.app.aclose()
        self._hb_stop.set()
        if self._heartbeat is not None:
            await self._heartbeat
        if self.ownership is not None:
            await self.ownership.leave()
        if self._handle_signals:
            self._remove_signals()
        log.info("runtime.stopped", shutdown_s=round(time.monotonic() - started, 3))
        self.stopped.set()


def _now() -> datetime:
    return datetime.now(UTC)


def _budgets(app: Application) -> PimBudgets | None:
    """The app's PIM limiters the heartbeat shares out (``SyncApp.pim_budgets``; fakes: none)."""
    make = getattr(app, "pim_budgets", None)
    found = make() if callable(make) else None
    return found if isinstance(found, PimBudgets) else None


__all__ = ["EXIT_SECOND_PROCESS", "Application", "Runtime", "Schedule", "SourceRunner"]
