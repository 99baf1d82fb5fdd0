"""
Wiring: builds the components a configuration describes and connects them.

:class:`Services` live as long as the process (state store, metrics); :class:`SyncApp` is
what one configuration builds (PIM client, sources, mappers, runners) and is rebuilt on a
reload. Transports can be injected so that tests mount the simulators in-process.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import structlog
from prometheus_client import REGISTRY, CollectorRegistry

from daemon import logs
from daemon.batch import BatchProcessor, MapperCache
from daemon.errors import SourceAssetError
from daemon.media import MediaTransfer
from daemon.metrics import Metrics, make_metrics
from daemon.models import DamAsset
from daemon.pim import PimClient
from daemon.runtime import Schedule
from daemon.server import Check, freshness_check
from daemon.settings import Settings, SourceEntry
from daemon.sources import DamSource, build_source
from daemon.store import BackoffPolicy, Store
from daemon.structure import StructureCache
from daemon.sync import PassObserver, PassResult, SyncOptions, acquire_lease, run_pass

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Services:
    """Process-wide components: kept across configuration reloads."""

    store: Store
    metrics: Metrics
    registry: CollectorRegistry

    @classmethod
    def create(cls, settings: Settings, *, registry: CollectorRegistry | None = None) -> Services:
        failures = settings.failures
        store = Store.from_url(
            settings.store.url,
            backoff=BackoffPolicy(
                base_seconds=failures.base_seconds,
                factor=failures.factor,
                max_seconds=failures.max_seconds,
                max_attempts=failures.max_attempts,
            ),
        )
        registry = registry if registry is not None else REGISTRY
        metrics = make_metrics(
            registry, sources=[(s.name, s.schedule.interval) for s in settings.sources]
        )
        return cls(store=store, metrics=metrics, registry=registry)


def dead_local_holder(holder: str) -> bool:
    """
    Whether a lease holder (``host:pid``) is a process of this host that no longer runs.

    Only our own host can be checked; a holder elsewhere is never presumed dead (its lease
    expires on the database clock instead).
    """
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def engine_options(entry: SourceEntry, lease_ttl: float) -> SyncOptions:
    sync = entry.sync
    return SyncOptions(
        lookback=timedelta(seconds=sync.lookback),
        settle_delay=timedelta(seconds=sync.settle_delay),
        batch_size=sync.batch_size,
        batch_bytes=sync.batch_bytes,
        media_concurrency=sync.media_concurrency,
        lease_ttl=lease_ttl,
        pipeline_depth=sync.pipeline_depth,
    )


@dataclass(slots=True)
class Runner:
    """One source wired to its components; what the scheduler runs."""

    name: str
    schedule: Schedule
    source: DamSource
    processor: BatchProcessor
    options: SyncOptions
    services: Services
    retry_batch: int
    holder: str
    reconcile_max_delete_fraction: float = 0.5
    last_result: PassResult | None = None
    observer: PassObserver | None = None

    async def run_once(self, stop: asyncio.Event | None = None) -> PassResult:
        """One pass of this source."""
        with logs.bind_job(self.name, logs.new_run_id()):
            result = await run_pass(
                self.source,
                self.processor,
                self.services.store,
                self.options,
                holder=self.holder,
                observer=self.observer or self.services.metrics,
                stop=stop,
                dead_holder=dead_local_holder,
            )
            await self.refresh_backlog()
        self.last_result = result
        return result

    async def retry_due(self, stop: asyncio.Event | None = None) -> int:
        """
        Try the due failures of this source again; returns how many were tried.

        The current version of each asset is fetched from the DAM (a failure is a hint, the
        DAM is the truth) and goes through the normal batch path, without moving the cursor.
        """
        store = self.services.store
        due = await asyncio.to_thread(
            store.due_failures, self.name, datetime.now(UTC), self.retry_batch
        )
        if not due or (stop is not None and stop.is_set()):
            return 0
        with logs.bind_job(self.name, logs.new_run_id()):
            lease = await acquire_lease(
                store, self.name, self.holder, self.options.lease_ttl, dead_local_holder
            )
            if lease is None:
                return 0
            try:
                ids = [f.dam_id for f in due if not f.dam_id.startswith("?")]
                unreadable = [
                    SourceAssetError(
                        asset_id=f.dam_id,
                        field="id",
                        path=f.dam_id[1:],
                        reason="the record could not be read; it is retried with its page",
                        source=self.name,
                    )
                    for f in due
                    if f.dam_id.startswith("?")
                ]
                page = await self.source.fetch(ids) if ids else None
                assets = list(page.assets) if page is not None else []
                errors = [*(page.errors if page is not None else ()), *unreadable]
                report = await self.processor.process(
                    assets, errors, lease=lease, run_id=None, cursor=None, window=None
                )
                log.info(
                    "sync.failures_retried",
                    tried=len(due),
                    written=report.written,
                    failed=report.failed,
                )
            finally:
                await asyncio.to_thread(store.release_lease, lease)
            await self.refresh_backlog()
        return len(due)

    async def reconcile(self, stop: asyncio.Event | None = None) -> int:
        """
        Find hard deletes: ids the store knows but the DAM no longer lists (rule 9).

        They go through the normal batch path as tombstones (deleted in the PIM, per
        ``delete_policy``). A sweep that would delete more than ``reconcile_max_delete_fraction``
        of the known assets is refused and logged: an empty or truncated id listing from a
        misconfigured DAM must never empty the PIM.

        Returns:
            How many assets were found deleted.
        """
        store = self.services.store
        with logs.bind_job(self.name, logs.new_run_id()):
            live: set[str] = set()
            async for chunk in self.source.all_ids():
                live.update(chunk)
            known = await asyncio.to_thread(lambda: list(store.known_ids(self.name)))
            gone = [dam_id for dam_id in known if dam_id not in live]
            if not gone or (stop is not None and stop.is_set()):
                log.info("sync.reconciled", known=len(known), live=len(live), deleted=0)
                return 0
            if len(gone) > self.reconcile_max_delete_fraction * len(known):
                log.error(
                    "sync.reconcile_refused",
                    known=len(known),
                    live=len(live),
                    would_delete=len(gone),
                    limit=self.reconcile_max_delete_fraction,
                )
                return 0
            now = await self.source.server_now()
            lease = await acquire_lease(
                store, self.name, self.holder, self.options.lease_ttl, dead_local_holder
            )
            if lease is None:
                return 0
            try:
                for start in range(0, len(gone), self.options.batch_size):
                    tombstones = [
                        DamAsset(id=dam_id, updated_at=now, deleted=True)
                        for dam_id in gone[start : start + self.options.batch_size]
                    ]
                    await self.processor.process(
                        tombstones, [], lease=lease, run_id=None, cursor=None, window=None
                    )
            finally:
                await asyncio.to_thread(store.release_lease, lease)
            log.info("sync.reconciled", known=len(known), live=len(live), deleted=len(gone))
            await self.refresh_backlog()
        return len(gone)

    async def refresh_backlog(self) -> None:
        counts = await asyncio.to_thread(self.services.store.failure_counts)
        mine = counts.get(self.name)
        self.services.metrics.set_backlog(
            self.name,
            pending=mine.pending if mine else 0,
            dead_letters=mine.dead if mine else 0,
        )


@dataclass(slots=True)
class SyncApp:
    """
    Everything one configuration builds. Implements the runtime's ``Application``.

    Args:
        settings: The validated configuration.
        services: Process-wide store and metrics.
        pim_transport: Injected PIM transport (tests, demo in-process).
        source_transports: Injected DAM transports by source name.
        source_clocks: Injected monotonic clocks by source name (tests moving a DAM's clock).
        dry_run: Map and report, write nothing.
    """

    settings: Settings
    services: Services
    pim: PimClient
    runners: list[Runner]
    structure: StructureCache
    retry_interval: float
    shutdown_grace: float
    _closed: bool = field(default=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        services: Services,
        *,
        pim_transport: httpx.AsyncBaseTransport | None = None,
        source_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        dry_run: bool = False,
        only: Sequence[str] | None = None,
        source_clocks: Mapping[str, Callable[[], float]] | None = None,
    ) -> SyncApp:
        metrics = services.metrics
        pim = PimClient.from_settings(settings.pim, observer=metrics, transport=pim_transport)
        structure = StructureCache(pim, ttl=settings.runtime.structure_ttl, observer=metrics)
        holder = f"{socket.gethostname()}:{os.getpid()}"
        spool = Path(settings.runtime.spool_dir) if settings.runtime.spool_dir else None
        runners = []
        for entry in settings.sources:
            if only and entry.name not in only:
                continue
            source = build_source(
                entry.name,
                entry,
                observer=metrics,
                transport=(source_transports or {}).get(entry.name),
                monotonic=(source_clocks or {}).get(entry.name),
            )
            media = MediaTransfer(
                source,
                pim,
                functools.partial(services.store.media_code, entry.name),
                concurrency=entry.sync.media_concurrency,
                spool_dir=spool,
                remember=functools.partial(services.store.record_media, entry.name),
            )
            processor = BatchProcessor(
                entry.name,
                pim,
                services.store,
                structure,
                MapperCache(entry.mapping, structure),
                media,
                delete_policy=entry.sync.delete_policy,
                dry_run=dry_run,
            )
            runners.append(
                Runner(
                    name=entry.name,
                    schedule=Schedule(
                        interval=entry.schedule.interval,
                        cron=entry.schedule.cron,
                        jitter=entry.schedule.jitter,
                        misfire_grace=entry.schedule.misfire_grace,
                        reconcile_interval=entry.schedule.reconcile_interval,
                    ),
                    source=source,
                    processor=processor,
                    options=engine_options(entry, settings.store.lease_ttl),
                    services=services,
                    retry_batch=entry.sync.retry_batch,
                    holder=holder,
                    reconcile_max_delete_fraction=entry.sync.reconcile_max_delete_fraction,
                )
            )
            metrics.register_source(entry.name, interval_seconds=entry.schedule.interval)
        return cls(
            settings=settings,
            services=services,
            pim=pim,
            runners=runners,
            structure=structure,
            retry_interval=settings.runtime.retry_interval,
            shutdown_grace=settings.runtime.shutdown_grace,
        )

    async def start(self) -> None:
        """Refuse a schema that is not at head; seed the metrics from the database."""
        store = self.services.store
        await asyncio.to_thread(store.check_at_head)
        for runner in self.runners:
            last = await asyncio.to_thread(store.last_success, runner.name)
            checkpoint = await asyncio.to_thread(store.load_checkpoint, runner.name)
            cursor = checkpoint.cursor if checkpoint is not None else None
            self.services.metrics.seed_from_store(
                runner.name,
                last_success=last,
                checkpoint=cursor.updated_at if cursor is not None else None,
            )
            await self._judge_again_if_mapping_changed(runner)
            await runner.refresh_backlog()

    async def _judge_again_if_mapping_changed(self, runner: Runner) -> None:
        """
        Permanent failures are kept "until the data or the config changes": when this source's
        mapping differs from the one its failures were judged against, they are all due again.
        """
        entry = self.settings.source(runner.name)
        digest = hashlib.sha256(
            entry.mapping.model_dump_json(by_alias=True).encode("utf-8")
        ).hexdigest()
        store = self.services.store
        if await asyncio.to_thread(store.mapping_changed, runner.name, digest):
            retried = await asyncio.to_thread(store.retry_failure, "all", source=runner.name)
            log.info("config.mapping_changed", source=runner.name, failures_retried=retried)

    def scheduler_event(self, kind: str, job: str = "") -> None:
        if kind == "missed":
            self.services.metrics.run_missed(job)
        elif kind == "skipped":
            self.services.metrics.run_skipped(job)

    async def checks(self) -> list[Check]:
        """Readiness: database reachable, schema at head, every source fresh enough."""
        store = self.services.store
        results: list[Check] = []
        try:
            await asyncio.to_thread(store.ping)
            await asyncio.to_thread(store.check_writable)
            results.append(Check("database", True, "reachable"))
        except Exception as exc:  # any failure means not ready; the reason is shown
            results.append(Check("database", False, f"{type(exc).__name__}: {exc}"))
            return results
        try:
            await asyncio.to_thread(store.check_at_head)
            results.append(Check("schema", True, "at head"))
        except Exception as exc:  # a schema behind head is not ready
            results.append(Check("schema", False, str(exc)))
        now = datetime.now(UTC)
        for runner in self.runners:
            last = await asyncio.to_thread(store.last_success, runner.name)
            interval = runner.schedule.interval or 3600.0
            results.append(
                freshness_check(
                    runner.name,
                    last_success=last,
                    interval=timedelta(seconds=interval),
                    multiple=self.settings.server.readiness_multiple,
                    now=now,
                )
            )
        return results

    async def aclose(self) -> None:
        """Close sources and the PIM client (reverse order of creation); idempotent."""
        if self._closed:
            return
        self._closed = True
        for runner in reversed(self.runners):
            await runner.source.aclose()
        await self.pim.aclose()


__all__ = ["Runner", "Services", "SyncApp", "engine_options"]
