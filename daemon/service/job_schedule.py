"""When a source's jobs run: an interval or a cron expression, as APScheduler triggers."""

from __future__ import annotations

from dataclasses import dataclass

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a source's job runs: every ``interval`` seconds, or on a cron expression."""

    interval: float | None = 60.0
    cron: str | None = None
    jitter: float = 0.0
    misfire_grace: float | None = None
    reconcile_interval: float | None = None

    def trigger(self) -> IntervalTrigger | CronTrigger:
        if self.cron:
            # CronTrigger.from_crontab takes no jitter: build the same trigger field by field.
            minute, hour, day, month, day_of_week = self.cron.split()
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone="UTC",
                jitter=self.jitter or None,
            )
        assert self.interval is not None
        return IntervalTrigger(seconds=self.interval, jitter=self.jitter or None)

    @property
    def grace(self) -> int:
        """Misfire grace: explicit, or about one interval (never APScheduler's default 1 s)."""
        if self.misfire_grace is not None:
            return max(1, int(self.misfire_grace))
        return max(1, int(self.interval or 60))


__all__ = ["Schedule"]
