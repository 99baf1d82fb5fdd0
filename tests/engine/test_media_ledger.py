"""MediaLedger: uploads' codes recorded at once, those finishing together in one store write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

import pytest

from daemon.engine.media_ledger import MediaLedger
from daemon.store.rows import StoreUnavailableError


class Store:
    """Records each write; the first one waits until the test lets it go."""

    def __init__(self, *, hold_first: bool = True, fail: set[int] | None = None) -> None:
        self.writes: list[dict[str, str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail = fail or set()

    def write(self, codes: Mapping[str, str]) -> None:  # in a worker thread
        n = len(self.writes)
        self.writes.append(dict(codes))
        self.started.set()
        self.release.wait(timeout=30)
        if n in self.fail:
            raise StoreUnavailableError(operation="record_media", reason="disk I/O error")


async def started(store: Store) -> None:
    """Until the first write runs in its worker thread."""
    await asyncio.to_thread(store.started.wait, 30)


async def behind_a_write(
    ledger: MediaLedger, store: Store, *later: Mapping[str, str]
) -> tuple[asyncio.Task[None], list[asyncio.Task[None]]]:
    """``{"a": "m/a"}`` being written (held), and a caller per mapping of ``later`` waiting."""
    first = asyncio.create_task(ledger.record({"a": "m/a"}))
    await started(store)
    waiting = [asyncio.create_task(ledger.record(codes)) for codes in later]
    await asyncio.sleep(0)  # every later caller has queued its codes
    return first, waiting


async def test_codes_finishing_during_a_write_go_together_in_the_next() -> None:
    store = Store()
    ledger = MediaLedger(store.write)
    codes = [{f"sha256:{k}": f"m/{k}", f"md5:{k}": f"m/{k}"} for k in "bcde"]
    first, later = await behind_a_write(ledger, store, *codes)
    assert not any(task.done() for task in [first, *later])  # none is written yet
    store.release.set()
    await asyncio.gather(first, *later)
    assert [{"a": "m/a"}] == store.writes[:1]
    assert 2 == len(store.writes) == ledger.writes
    assert {f"{a}:{k}" for k in "bcde" for a in ("sha256", "md5")} == set(store.writes[1])


async def test_a_caller_returns_only_once_its_own_codes_are_written() -> None:
    store = Store()
    ledger = MediaLedger(store.write)
    first, (second,) = await behind_a_write(ledger, store, {"b": "m/b"})
    store.release.set()
    await first
    assert 1 <= len(store.writes)
    await second
    assert {"b": "m/b"} == store.writes[-1]


async def test_a_failed_write_raises_in_each_of_its_callers_and_the_next_write_goes_on() -> None:
    store = Store(fail={0})
    ledger = MediaLedger(store.write)
    first, (second,) = await behind_a_write(ledger, store, {"b": "m/b"})
    store.release.set()
    with pytest.raises(StoreUnavailableError):
        await first
    await second  # its codes went in the next write, which succeeded
    assert [{"a": "m/a"}, {"b": "m/b"}] == store.writes
    assert 1 == ledger.writes
    await ledger.record({"c": "m/c"})  # and the ledger keeps working
    assert {"c": "m/c"} == store.writes[-1]


async def test_a_cancelled_caller_leaves_the_others_written() -> None:
    store = Store()
    ledger = MediaLedger(store.write)
    first, (gone, kept) = await behind_a_write(ledger, store, {"b": "m/b"}, {"c": "m/c"})
    gone.cancel()
    store.release.set()
    await asyncio.gather(first, kept)
    assert gone.cancelled()
    assert {"c": "m/c"}.items() <= store.writes[-1].items()


async def test_nothing_to_record_writes_nothing() -> None:
    store = Store(hold_first=False)
    ledger = MediaLedger(store.write)
    await ledger.record({})
    assert [] == store.writes
