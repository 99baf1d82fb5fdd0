"""
One binary moving for several values or assets at once is uploaded once: transfers of the same
announced checksum wait for each other, and so do transfers of the same bytes without one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.core.errors import PimUnavailable
from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_hold import HeldBytes
from daemon.engine.media_transfer import MediaTransfer

DATA = b"one manual shared by every asset"
KEY = f"sha256:{hashlib.sha256(DATA).hexdigest()}"


class Dam:
    """Every asset's file holds DATA, or DATA and its id with ``distinct``."""

    def __init__(self, distinct: bool = False) -> None:
        self.opened = 0
        self.distinct = distinct

    def open_binary(self, asset: DamAsset):
        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncIterator[bytes]]:
            self.opened += 1

            async def chunks() -> AsyncIterator[bytes]:
                yield DATA + (asset.id.encode() if self.distinct else b"")

            yield chunks()

        return opener()


class GatedPim:
    """Uploads wait for ``gate``: every transfer has started before the first one ends."""

    def __init__(self, fail_first: bool = False) -> None:
        self.gate = asyncio.Event()
        self.uploads = 0
        self.fail_first = fail_first

    async def upload_media_file(
        self, path: Path | HeldBytes, *, filename: str, mime_type: str | None = None
    ) -> str:
        self.uploads += 1
        await self.gate.wait()
        if self.fail_first and self.uploads == 1:
            raise PimUnavailable("the PIM is down for a moment")
        return f"m/{self.uploads}/{filename}"


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def known(self, checksum: str) -> str | None:
        return self.rows.get(checksum)

    def remember(self, codes: Mapping[str, str]) -> None:
        self.rows.update(codes)


def asset(asset_id: str, checksum: str | None, url: str = "http://dam/f.pdf") -> DamAsset:
    binary = BinaryRef(url=url, filename="f.pdf", checksum=checksum)
    return DamAsset(asset_id, datetime(2026, 1, 1, tzinfo=UTC), binary=binary)


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (lookups hop to worker threads), at most 10 s."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - set across lookups in worker threads
            await asyncio.sleep(0.001)


def users(media: MediaTransfer, key: str) -> int:
    """Transfers holding or waiting for ``key``."""
    return media._keys._locks.get(key, (None, 0))[1]


async def _all(media: MediaTransfer, pim: GatedPim, assets: list[DamAsset]) -> list[Any]:
    tasks = [asyncio.create_task(media.transfer(a)) for a in assets]
    # The first is at the PIM, every other one waits for it: then the upload may end.
    await until(lambda: pim.uploads == 1 and users(media, KEY) == len(assets))
    pim.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("checksum", [KEY, None], ids=["announced", "not announced"])
async def test_concurrent_transfers_of_one_binary_upload_it_once(tmp_path, checksum):
    store, dam, pim = Store(), Dam(), GatedPim()
    media = MediaTransfer(
        dam, pim, store.known, spool_dir=tmp_path, remember=store.remember, concurrency=5
    )
    # Several assets (or one asset's locales) pointing at one file, by several URLs.
    assets = [asset(f"a{i}", checksum, url=f"http://dam/{i}.pdf") for i in range(5)]
    done = await _all(media, pim, assets)
    assert 1 == pim.uploads
    assert 1 == len({d.media_code for d in done})
    assert [True, False, False, False, False] == [d.uploaded for d in done]
    # Announced: the waiters never download; not announced: each downloads to learn its digest.
    assert (1 if checksum else 5) == dam.opened


async def test_a_failed_upload_leaves_the_next_transfer_to_try_again(tmp_path):
    store, dam, pim = Store(), Dam(), GatedPim(fail_first=True)
    media = MediaTransfer(dam, pim, store.known, spool_dir=tmp_path, remember=store.remember)
    first, second = await _all(media, pim, [asset("a1", KEY), asset("a2", KEY)])
    assert isinstance(first, PimUnavailable)
    assert second.uploaded and 2 == pim.uploads
    assert {KEY: second.media_code} == {k: v for k, v in store.rows.items() if k == KEY}


async def test_different_binaries_do_not_wait_for_each_other(tmp_path):
    store, dam, pim = Store(), Dam(distinct=True), GatedPim()
    media = MediaTransfer(dam, pim, store.known, spool_dir=tmp_path, remember=store.remember)
    tasks = [asyncio.create_task(media.transfer(asset(f"a{i}", None))) for i in range(2)]
    # Both reach the PIM before either finishes: no lock is shared between them.
    await until(lambda: pim.uploads == 2)
    pim.gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert not media._keys._locks  # every lock is gone once nobody holds or waits for it
