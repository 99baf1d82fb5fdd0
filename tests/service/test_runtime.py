"""The runtime in-process, with fake applications: scheduling, reload, stop, grace."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from daemon.service.runtime import Runtime, Schedule


@dataclass
class FakeRunner:
    name: str
    schedule: Schedule
    runs: list[float] = field(default_factory=list)
    pass_seconds: float = 0.0
    stopped_early: int = 0

    async def run_once(self, stop: asyncio.Event) -> None:
        self.runs.append(asyncio.get_running_loop().time())
        for _ in range(int(self.pass_seconds / 0.01)):
            if stop.is_set():
                self.stopped_early += 1
                return
            await asyncio.sleep(0.01)

    async def retry_due(self, stop: asyncio.Event) -> int:
        return 0

    async def reconcile(self, stop: asyncio.Event) -> int:
        return 0


@dataclass
class FakeApp:
    runners: list[FakeRunner]
    retry_interval: float = 60.0
    shutdown_grace: float = 2.0
    started: bool = False
    closed: bool = False
    events: list[tuple[str, str]] = field(default_factory=list)

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True

    def scheduler_event(self, kind: str, job: str) -> None:
        self.events.append((kind, job))


async def wait_for(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_sources_run_at_start_then_on_their_interval_and_stop_cleanly():
    """Each source runs at once, then every interval; a stop ends the loop with exit 0."""
    runner = FakeRunner("a", Schedule(interval=0.2))
    app = FakeApp([runner])

    async def build() -> FakeApp:
        return app

    runtime = Runtime(build, handle_signals=False)
    task = asyncio.create_task(runtime.run())
    await wait_for(lambda: len(runner.runs) >= 3)
    runtime.request_stop()
    assert 0 == await asyncio.wait_for(task, 5)
    assert (True, True) == (app.started, app.closed)


async def test_stop_lets_a_running_pass_end_within_the_grace():
    """A stop during a pass waits for the pass (which sees the stop flag), then exits."""
    runner = FakeRunner("slow", Schedule(interval=60), pass_seconds=2.0)
    app = FakeApp([runner], shutdown_grace=5.0)

    async def build() -> FakeApp:
        return app

    runtime = Runtime(build, handle_signals=False)
    task = asyncio.create_task(runtime.run())
    await wait_for(lambda: len(runner.runs) == 1)
    runtime.request_stop()
    assert 0 == await asyncio.wait_for(task, 5)
    assert 1 == runner.stopped_early


async def test_reload_applies_a_new_interval_and_keeps_the_old_app_on_error():
    """A reload swaps in the new schedule; a failing build keeps the running application."""
    slow = FakeRunner("a", Schedule(interval=30))
    fast = FakeRunner("a", Schedule(interval=0.1))
    apps: list[FakeApp | Exception] = [FakeApp([slow]), RuntimeError("bad config"), FakeApp([fast])]

    async def build() -> FakeApp:
        app = apps.pop(0)
        if isinstance(app, Exception):
            raise app
        return app

    runtime = Runtime(build, handle_signals=False)
    task = asyncio.create_task(runtime.run())
    await wait_for(lambda: len(slow.runs) == 1)
    first = runtime.app
    runtime.request_reload()
    await asyncio.sleep(0.3)
    assert first is runtime.app  # the invalid configuration was refused
    runtime.request_reload()
    await wait_for(lambda: len(fast.runs) >= 2)
    assert first.closed  # type: ignore[union-attr]
    assert [] == apps
    runtime.request_stop()
    assert 0 == await asyncio.wait_for(task, 5)
    assert 1 == len(slow.runs)


@pytest.mark.parametrize(
    ("schedule", "grace"),
    [
        (Schedule(interval=30), 30),
        (Schedule(interval=0.2), 1),
        (Schedule(interval=30, misfire_grace=5), 5),
        (Schedule(interval=None, cron="*/5 * * * *"), 60),
    ],
)
def test_misfire_grace_is_explicit(schedule, grace):
    """The misfire grace is never APScheduler's 1 s default unless the interval is that short."""
    assert grace == schedule.grace
    assert schedule.trigger() is not None


def test_cron_schedule_keeps_its_jitter():
    """A cron schedule builds a UTC trigger with the configured jitter."""
    trigger = Schedule(interval=None, cron="*/5 * * * *", jitter=3).trigger()
    assert 3 == trigger.jitter
    assert "*/5" == str(trigger.fields[6])
