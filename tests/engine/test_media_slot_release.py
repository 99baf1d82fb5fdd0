"""
A transfer gives its slot back once its binary is uploaded and let go: recording the media code
(a worker-thread trip to the store) no longer keeps the next download waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

from daemon.core.records import DamAsset
from daemon.engine.media_transfer import MediaTransfer
from tests.engine.test_media_prefetch import Dam, Pim, Store, asset, key


class OpeningDam(Dam):
    """Tells when each asset's download opens."""

    def __init__(self) -> None:
        self.opened: dict[str, asyncio.Event] = {}

    def opening(self, asset_id: str) -> asyncio.Event:
        return self.opened.setdefault(asset_id, asyncio.Event())

    def open_binary(self, asset: DamAsset):
        self.opening(asset.id).set()
        return super().open_binary(asset)


async def test_the_next_download_starts_while_an_upload_is_recorded() -> None:
    store, pim, dam = Store(), Pim(), OpeningDam()
    recording = threading.Event()
    release = threading.Event()

    def remember(codes: Mapping[str, str]) -> None:  # in a worker thread
        recording.set()
        release.wait(timeout=30)
        store.remember(codes)

    media = MediaTransfer(dam, pim, store.known, remember=remember, concurrency=1)
    first = asyncio.create_task(media.transfer(asset(1)))
    second = asyncio.create_task(media.transfer(asset(2)))
    try:
        # One slot: the second download opens only once the first gave the slot back, which
        # is now before its code is recorded (the recording waits for ``release``).
        await asyncio.wait_for(dam.opening("2").wait(), timeout=10)
        # The first transfer ends only once its code is recorded, which waits for ``release``.
        assert not first.done()
        # Its recording was handed to a worker thread; the thread may not have run yet.
        assert await asyncio.to_thread(recording.wait, 10)
    finally:
        release.set()
    done = await asyncio.gather(first, second)
    assert [d.uploaded for d in done] == [True, True]
    assert sorted(store.recorded) == sorted([key(1), key(2)])
    assert pim.uploads == ["1.png", "2.png"]


async def test_a_transfer_of_the_same_binary_waits_for_the_code_to_be_recorded() -> None:
    store, pim = Store(), Pim()

    media = MediaTransfer(Dam(), pim, store.known, remember=store.remember, concurrency=1)
    done = await asyncio.gather(media.transfer(asset(1)), media.transfer(asset(1)))
    assert [d.uploaded for d in done] == [True, False]
    assert done[0].media_code == done[1].media_code
    assert pim.uploads == ["1.png"]
