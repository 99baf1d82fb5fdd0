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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import structlog
from prometheus_client import REGISTRY, CollectorRegistry

from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.clock_memory import RememberedClock, boot_id
from daemon.engine.leasing import process_holder
from daemon.engine.mapper_cache import MapperCache
from daemon.engine.media_transfer import MediaTransfer
from daemon.engine.source_jobs import SourceJobs
from daemon.engine.structure_cache import StructureCache
from daemon.pim import PimClient
from daemon.service.event_loops import EventLoops, webhook_sources
from daemon.service.part_options import (
    backoff_policy,
    engine_options,
    schedule_of,
    withdrawal_options,
)
from daemon.service.readiness import Check, readiness_checks, schedule_period
from daemon.service.runtime import Schedule
from daemon.settings.root import Settings, SourceEntry
from daemon.sources import DamSource, build_source
from daemon.store import Store, pim_identity
from daemon.telemetry.metrics import Metrics, make_metrics
from daemon.upstream.policy import ONE_SHOT_RETRY

if TYPE_CHECKING:
    # The webhook server's parts (Starlette, the SNS verifier's cryptography) load only where
    # webhooks are served: `sync --once` never imports them.
    from daemon.service.webhook_gate import WebhookGate

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Services:
    """Process-wide components: kept across configuration reloads."""

    store: Store
    metrics: Metrics
    registry: CollectorRegistry

    @classmethod
    def create(cls, settings: Settings, *, registry: CollectorRegistry | None = None) -> Services:
        store = Store.from_url(settings.store.url, backoff=backoff_policy(settings.failures))
        registry = registry if registry is not None else REGISTRY
        metrics = make_metrics(
            registry, sources=[(s.name, s.schedule.interval) for s in settings.sources]
        )
        return cls(store=store, metrics=metrics, registry=registry)


@dataclass(slots=True)
class Runner(SourceJobs):
    """A source's engine jobs and their schedule: what the runtime drives."""

    schedule: Schedule = field(default_factory=Schedule)


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
        one_shot: A command that runs once and exits (``sync --once``, ``validate-config``):
            the PIM's and the sources' retry policies are capped by
            :data:`~daemon.upstream.policy.ONE_SHOT_RETRY`, so an unreachable upstream fails
            within seconds. The daemon leaves it false and keeps its configured policies.
        remembered: Take what the state database remembers while it is fresh: the PIM's
            structure (``runtime.structure_ttl``) and a REST DAM's clock
            (``rest.clock_anchor_max_age``), and keep them there; so cron's ``sync --once``
            with nothing to do makes one DAM request and none to the PIM. Off for commands
            that must reach both upstreams (``validate-config`` checks they answer).
    """

    settings: Settings
    services: Services
    pim: PimClient
    runners: list[Runner]
    sources: list[DamSource]
    structure: StructureCache
    retry_interval: float
    shutdown_grace: float
    events: EventLoops | None = None
    gate: WebhookGate | None = None
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
        one_shot: bool = False,
        events: bool = False,
        gate: WebhookGate | None = None,
        remembered: bool = False,
    ) -> SyncApp:
        metrics = services.metrics
        retry_cap = ONE_SHOT_RETRY if one_shot else None
        pim = PimClient.from_settings(
            settings.pim, observer=metrics, transport=pim_transport, retry_cap=retry_cap
        )
        structure = StructureCache(
            pim,
            ttl=settings.runtime.structure_ttl,
            observer=metrics,
            snapshots=services.store if remembered else None,
            pim=pim_identity(str(settings.pim.base_url)),
        )
        boot = boot_id() if remembered else None
        holder = process_holder()
        spool = Path(settings.runtime.spool_dir) if settings.runtime.spool_dir else None
        runners = []
        sources: list[DamSource] = []
        for entry in settings.sources:
            if only and entry.name not in only:
                continue
            monotonic = (source_clocks or {}).get(entry.name)
            source = build_source(
                entry.name,
                entry,
                observer=metrics,
                transport=(source_transports or {}).get(entry.name),
                monotonic=monotonic,
                retry_cap=retry_cap,
            )
            sources.append(source)
            media = MediaTransfer(
                source,
                pim,
                functools.partial(services.store.media_code, entry.name),
                concurrency=entry.sync.media_concurrency,
                spool_dir=spool,
                remember=functools.partial(services.store.record_media, entry.name),
                max_binary_bytes=entry.sync.max_binary_bytes,
            )
            processor = BatchProcessor(
                entry.name,
                pim,
                services.store,
                structure,
                MapperCache(entry.mapping, structure),
                media,
                withdrawals=withdrawal_options(entry),
                dry_run=dry_run,
            )
            runners.append(
                Runner(
                    name=entry.name,
                    source=_clock_kept(source, entry, services.store, boot, monotonic),
                    processor=processor,
                    options=engine_options(entry, settings.store.lease_ttl),
                    store=services.store,
                    metrics=metrics,
                    retry_batch=entry.sync.retry_batch,
                    holder=holder,
                    pim=pim,
                    schedule=schedule_of(entry),
                )
            )
            metrics.register_source(entry.name, interval_seconds=entry.schedule.interval)
        loops = EventLoops(settings, services.store, metrics, runners) if events else None
        return cls(
            settings=settings,
            services=services,
            pim=pim,
            runners=runners,
            sources=sources,
            structure=structure,
            retry_interval=settings.runtime.retry_interval,
            shutdown_grace=settings.runtime.shutdown_grace,
            events=loops if loops is not None and loops.sources else None,
            gate=gate,
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
        await self._start_events()

    async def _start_events(self) -> None:
        """Webhooks go to this configuration's inbox; brokers and consumers start."""
        if self.events is None:
            if self.gate is not None:
                await self.gate.install(None)
            return
        if self.gate is not None:
            from daemon.intake.webhook_app import build_webhook_app

            app = build_webhook_app(
                webhook_sources(self.settings),
                self.settings.events,
                self.events.persist,
                self.services.metrics,
            )
            await self.gate.install(app)
        self.events.start()

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
        now = datetime.now(UTC)

        def periods() -> list[tuple[str, float | None]]:
            # A cron's period is computed from its fire times: in a thread, as a cron that
            # never fires again costs APScheduler a search up to year 9999.
            return [(r.name, schedule_period(r.schedule, now)) for r in self.runners]

        return await readiness_checks(
            self.services.store,
            await asyncio.to_thread(periods),
            multiple=self.settings.server.readiness_multiple,
            min_free_bytes=self.settings.store.min_free_bytes,
        )

    async def aclose(self) -> None:
        """Close sources and the PIM client (reverse order of creation); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.events is not None:
            await self.events.aclose(self.shutdown_grace)
        for source in reversed(self.sources):
            await source.aclose()
        await self.structure.flush()  # options created since the last write
        await self.pim.aclose()


def _clock_kept(
    source: DamSource,
    entry: SourceEntry,
    store: Store,
    boot: str | None,
    monotonic: Callable[[], float] | None,
) -> DamSource | RememberedClock:
    """
    The source its jobs read: a REST source's clock is kept in the store between processes.

    Only for an app that remembers (``boot`` is then this host's boot id, ``None`` where the
    system names none), while ``rest.clock_anchor_max_age`` allows reusing a reading (0 = always
    probe), and on the real monotonic clock (a test's injected one does not run on from one
    process to the next).
    """
    max_age = entry.rest.clock_anchor_max_age if entry.rest is not None else 0.0
    if entry.kind != "rest" or max_age <= 0 or boot is None or monotonic is not None:
        return source
    return RememberedClock(source, store, max_age=max_age, boot=boot)


__all__ = ["Services", "SyncApp", "engine_options"]
