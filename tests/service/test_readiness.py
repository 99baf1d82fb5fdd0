"""Readiness of a wired app: each source judged on its real schedule, the database on its disk."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert

from daemon.service.readiness import schedule_period
from daemon.service.runtime import Schedule
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import ScheduleSettings, Settings, load_settings
from daemon.store.tables import runs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "damsync.example.toml"
DAY = 86400.0

MakeApp = Callable[..., SyncApp]


def _settings(tmp_path: Path, schedule: ScheduleSettings, **env: str) -> Settings:
    environ = {"DAMSYNC_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}", **env}
    settings = load_settings(EXAMPLE, environ)
    entry = settings.sources[0].model_copy(update={"schedule": schedule})
    return settings.model_copy(update={"sources": [entry]})


@pytest.fixture(name="make_app")
async def _make_app(tmp_path: Path) -> AsyncIterator[MakeApp]:
    """Builds the example's app (source ``demo``) with a given schedule, at head; closes it."""
    built: list[SyncApp] = []

    def make(schedule: ScheduleSettings, **env: str) -> SyncApp:
        settings = _settings(tmp_path, schedule, **env)
        services = Services.create(settings, registry=CollectorRegistry())
        services.store.upgrade()
        app = SyncApp.build(settings, services)
        built.append(app)
        return app

    yield make
    for app in built:
        await app.aclose()
        app.services.store.dispose()


def record_success(app: SyncApp, source: str, age: timedelta) -> None:
    """A successful run of ``source`` that finished ``age`` ago."""
    finished = datetime.now(UTC) - age
    with app.services.store.engine.begin() as conn:
        conn.execute(
            insert(runs).values(
                source=source, started_at=finished, finished_at=finished, status="success"
            )
        )


async def test_daily_cron_source_is_ready_hours_after_its_last_pass(make_app):
    """A daily cron source that succeeded two hours ago is fresh: its limit is three days."""
    app = make_app(ScheduleSettings(cron="0 3 * * *"))
    record_success(app, "demo", timedelta(hours=2))
    checks = {check.name: check for check in await app.checks()}
    assert True is checks["source:demo"].ok, checks["source:demo"].detail
    assert checks["source:demo"].detail.endswith("limit 259200s")


async def test_daily_cron_source_is_unready_after_missing_three_days(make_app):
    """A daily cron source whose last success is four days old is stale."""
    app = make_app(ScheduleSettings(cron="0 3 * * *"))
    record_success(app, "demo", timedelta(days=4))
    checks = {check.name: check for check in await app.checks()}
    assert False is checks["source:demo"].ok


async def test_interval_source_keeps_its_interval(make_app):
    """An interval source is judged on its interval (60 s x 3)."""
    app = make_app(ScheduleSettings(interval=60.0))
    record_success(app, "demo", timedelta(minutes=4))
    checks = {check.name: check for check in await app.checks()}
    assert False is checks["source:demo"].ok
    assert checks["source:demo"].detail.endswith("limit 180s")


async def test_low_disk_space_makes_the_database_unready(make_app, tmp_path):
    """``store.min_free_bytes`` above the free space of the database's disk fails readiness."""
    too_much = shutil.disk_usage(tmp_path).free + 2**40
    app = make_app(ScheduleSettings(), DAMSYNC_STORE__MIN_FREE_BYTES=str(too_much))
    checks = await app.checks()
    assert "database" == checks[0].name
    assert False is checks[0].ok
    assert "free on the database's filesystem" in checks[0].detail


NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Schedule(interval=45.0), 45.0),
        (Schedule(interval=60.0, cron="*/5 * * * *"), 300.0),
        (Schedule(interval=60.0, cron="0 3 * * *", jitter=30.0), DAY),
        (Schedule(interval=None, cron="0 0 * * 0"), 7 * DAY),
        (Schedule(interval=None, cron="0 9 * * 1-5"), DAY),
        (Schedule(interval=None, cron="0 0 31 2 *"), None),
    ],
)
def test_schedule_period(schedule, expected):
    """A schedule's period is its interval, or the gap between a cron's next two fire times."""
    assert expected == schedule_period(schedule, NOW)
