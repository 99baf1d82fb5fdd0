"""
Settings become each part's options here, and only here: the engine, the store and the scheduler
take plain option records and never see the configuration.
"""

from __future__ import annotations

from datetime import timedelta

from daemon.engine.sync_pass import SyncOptions
from daemon.engine.withdrawals import WithdrawalOptions
from daemon.service.job_schedule import Schedule
from daemon.settings import SourceEntry
from daemon.settings.root import FailureSettings
from daemon.store import BackoffPolicy


def engine_options(entry: SourceEntry, lease_ttl: float) -> SyncOptions:
    """A source's engine options from its ``[sources.sync]`` section and ``store.lease_ttl``."""
    sync = entry.sync
    return SyncOptions(
        lookback=timedelta(seconds=sync.lookback),
        settle_delay=timedelta(seconds=sync.settle_delay),
        batch_size=sync.batch_size,
        batch_bytes=sync.batch_bytes,
        lease_ttl=lease_ttl,
        pipeline_depth=sync.pipeline_depth,
        pass_deadline=sync.pass_deadline,
    )


def withdrawal_options(entry: SourceEntry) -> WithdrawalOptions:
    """A source's deletion policy, mark values and deletion brake from ``[sources.sync]``."""
    sync = entry.sync
    return WithdrawalOptions(
        policy=sync.delete_policy,
        mark=dict(sync.mark),
        max_share=sync.max_delete_share,
        max_count=sync.max_delete_count,
        burst_window=sync.delete_burst_window,
    )


def schedule_of(entry: SourceEntry) -> Schedule:
    """When a source's jobs run, from its ``[sources.schedule]`` section."""
    schedule = entry.schedule
    return Schedule(
        interval=schedule.interval,
        cron=schedule.cron,
        jitter=schedule.jitter,
        misfire_grace=schedule.misfire_grace,
        reconcile_interval=schedule.reconcile_interval,
    )


def backoff_policy(failures: FailureSettings) -> BackoffPolicy:
    """The failure retry backoff from the ``[failures]`` section."""
    return BackoffPolicy(
        base_seconds=failures.base_seconds,
        factor=failures.factor,
        max_seconds=failures.max_seconds,
        max_attempts=failures.max_attempts,
    )


__all__ = ["backoff_policy", "engine_options", "schedule_of", "withdrawal_options"]
