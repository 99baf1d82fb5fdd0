"""
Wiring: builds the components a configuration describes and connects them.

:class:`Services` live as long as the process (state store, metrics); :class:`SyncApp` is
what one configuration builds (PIM clients, sources, mappers, runners) and is rebuilt on a
reload. Each configured PIM gets one :class:`PimParts` (client, limiter, token, structure
cache), shared by every source that writes to it: the fair-use budget is the PIM's. Each source's
jobs get the store's view of its PIM (:meth:`~daemon.store.Store.for_pim`): asset ownership is
per PIM, so one DAM written into two PIMs owns the same codes in each.
Transports can be injected so that tests mount the simulators in-process.
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
from daemon.engine.replica_share import PimBudgets
from daemon.engine.source_jobs import SourceJobs
from daemon.engine.structure_cache import StructureCache
from daemon.pim import PimClient
from daemon.service.part_options import (
    backoff_policy,
    engine_options,
    schedule_of,
    withdrawal_options,
)
from daemon.service.readiness import Check, readiness_checks, schedule_period
from daemon.service.runtime import Schedule
from daemon.settings.connections import DEFAULT_PIM, PimSettings
from daemon.settings.root import Settings, SourceEntry
from daemon.sources import DamSource, build_source
from daemon.store import Store, pim_identity
from daemon.telemetry.metrics import Metrics, make_metrics
from daemon.upstream.policy import ONE_SHOT_RETRY, RetryPolicy

if TYPE_CHECKING:
    # Event intake and the webhook server (Starlette, cryptography): `sync --once` loads neither.
    from daemon.service.event_loops import EventLoops
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
        intervals = [(s.name, s.schedule.interval) for s in settings.sources]
        metrics = make_metrics(registry, sources=intervals)
        return cls(store=store, metrics=metrics, registry=registry)


@dataclass(frozen=True, slots=True)
class PimParts:
    """
    One configured PIM: its client (the limiter that holds its fair-use budget, and its token)
    and its structure cache. Built once per PIM; every source writing to it shares them.
    """

    client: PimClient
    structure: StructureCache
    limit: int

    @classmethod
    def build(
        cls,
        name: str,
        pim: PimSettings,
        settings: Settings,
        services: Services,
        *,
        transport: httpx.AsyncBaseTransport | None,
        retry_cap: RetryPolicy | None,
        remembered: bool,
    ) -> PimParts:
        metrics = services.metrics
        client = PimClient.from_settings(
            pim, observer=metrics, transport=transport, retry_cap=retry_cap, name=name
        )
        structure = StructureCache(
            client,
            ttl=settings.runtime.structure_ttl,
            observer=metrics,
            snapshots=services.store if remembered else None,
            pim=pim_identity(str(pim.base_url)),
        )
        return cls(client=client, structure=structure, limit=pim.http.max_in_flight)

    def register(
        self, name: str, metrics: Metrics, sources: Sequence[str], limit: int | None = None
    ) -> None:
        """Export its budget (or this replica's share), requests in flight and its sources."""
        limiter = self.client.upstream.limiter
        metrics.register_pim(
            name, sources=sources, limit=limit or self.limit, in_flight=lambda: limiter.in_flight
        )


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
        pim_transport: Injected PIM transport (tests, demo) of every PIM not in ``pim_transports``.
        pim_transports: Injected PIM transports by PIM name (``default`` for ``[pim]``).
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
    pims: dict[str, PimParts] = field(default_factory=dict)
    _closed: bool = field(default=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        services: Services,
        *,
        pim_transport: httpx.AsyncBaseTransport | None = None,
        pim_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
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
        # One client (its limiter: the fair-use budget, and its token) and one structure cache
        # per PIM, shared by every source that writes to it.
        pims = {
            name: PimParts.build(
                name,
                pim_settings,
                settings,
                services,
                transport=(pim_transports or {}).get(name, pim_transport),
                retry_cap=retry_cap,
                remembered=remembered,
            )
            for name, pim_settings in settings.pim_connections().items()
        }
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
            pim, structure = pims[entry.pim].client, pims[entry.pim].structure
            store = services.store.for_pim(entry.pim)  # the keys it owns are its PIM's (store_of)
            media = MediaTransfer(
                source,
                pim,
                functools.partial(services.store.media_code, entry.name),
                concurrency=entry.sync.media_concurrency,
                spool_dir=spool,
                remember=functools.partial(services.store.record_media, entry.name),
                known_codes=functools.partial(services.store.media_codes, entry.name),
                max_binary_bytes=entry.sync.max_binary_bytes,
            )
            processor = BatchProcessor(
                entry.name,
                pim,
                store,
                structure,
                MapperCache(entry.mapping, structure),
                media,
                withdrawals=withdrawal_options(entry),
                dry_run=dry_run,
                pim_name=entry.pim,
            )
            processor.withdrawer.links.observer = metrics
            runners.append(
                Runner(
                    name=entry.name,
                    source=_clock_kept(source, entry, services.store, boot, monotonic),
                    processor=processor,
                    options=engine_options(entry, settings.store.lease_ttl),
                    store=store,
                    metrics=metrics,
                    retry_batch=entry.sync.retry_batch,
                    holder=holder,
                    pim=pim,
                    pim_name=entry.pim,
                    schedule=schedule_of(entry),
                )
            )
            metrics.register_source(entry.name, interval_seconds=entry.schedule.interval)
        for name, parts in pims.items():
            parts.register(name, metrics, [r.name for r in runners if r.pim is parts.client])
        if events:
            from daemon.service.event_loops import EventLoops
        loops = EventLoops(settings, services.store, metrics, runners) if events else None
        first = pims.get(DEFAULT_PIM) or next(iter(pims.values()))
        return cls(
            settings=settings,
            services=services,
            pim=first.client,
            runners=runners,
            sources=sources,
            structure=first.structure,
            retry_interval=settings.runtime.retry_interval,
            shutdown_grace=settings.runtime.shutdown_grace,
            events=loops if loops is not None and loops.sources else None,
            gate=gate,
            pims=pims,
        )

    def pim_budgets(self) -> PimBudgets:
        """Its PIMs' limiters, whose budgets the heartbeat shares with the other replicas."""
        writing = {name: [r.name for r in self.runners if r.pim_name == name] for name in self.pims}

        def exported(pim: str, share: int) -> None:  # damsync_pim_requests_in_flight_limit
            self.pims[pim].register(pim, self.services.metrics, writing[pim], limit=share)

        return PimBudgets(
            limiters={name: parts.client.upstream.limiter for name, parts in self.pims.items()},
            budgets={name: parts.limit for name, parts in self.pims.items()},
            source_pims={r.name: r.pim_name for r in self.runners},
            on_share=exported,
        )

    def pim_of(self, source: str) -> PimClient:
        """The client of the PIM the source named ``source`` writes to."""
        return self.pims[self.settings.source(source).pim].client

    def structure_of(self, source: str) -> StructureCache:
        """The structure cache of the PIM the source named ``source`` writes to."""
        return self.pims[self.settings.source(source).pim].structure

    def store_of(self, source: str) -> Store:
        """The store as the source named ``source`` sees it: ownership in its PIM."""
        return self.services.store.for_pim(self.settings.source(source).pim)

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
            from daemon.service.event_loops import webhook_sources

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
        dumped = entry.mapping.model_dump_json(by_alias=True).encode("utf-8")
        digest = hashlib.sha256(dumped).hexdigest()
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
        for parts in reversed(self.pims.values()):
            await parts.structure.flush()  # options created since the last write
            await parts.client.aclose()


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


__all__ = ["PimParts", "Services", "SyncApp", "engine_options"]
