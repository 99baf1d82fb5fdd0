"""
A batch's media codes are looked up in one worker-thread trip (:meth:`MediaTransfer.prefetch`):
its transfers then ask the store nothing, a binary found is not uploaded, one found absent is
uploaded once and recorded at once (a crash must not cost a second upload).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_hold import HeldBytes
from daemon.engine.media_transfer import MediaTransfer


def data(n: int) -> bytes:
    return f"binary number {n}".encode()


def key(n: int) -> str:
    return f"sha256:{hashlib.sha256(data(n)).hexdigest()}"


class Dam:
    def open_binary(self, asset: DamAsset):
        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncIterator[bytes]]:
            async def chunks() -> AsyncIterator[bytes]:
                yield data(int(asset.id))

            yield chunks()

        return opener()


class Pim:
    def __init__(self) -> None:
        self.uploads: list[str] = []

    async def upload_media_file(
        self, path: Path | HeldBytes, *, filename: str, mime_type: str | None = None
    ) -> str:
        self.uploads.append(filename)
        return f"m/{len(self.uploads)}/{filename}"


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.asked: list[str] = []
        self.recorded: list[str] = []

    def known(self, checksum: str) -> str | None:
        self.asked.append(checksum)
        return self.rows.get(checksum)

    def remember(self, codes: Mapping[str, str]) -> None:
        self.recorded.extend(codes)
        self.rows.update(codes)


def asset(n: int) -> DamAsset:
    binary = BinaryRef(url=f"http://dam/{n}", filename=f"{n}.png", checksum=key(n))
    return DamAsset(str(n), datetime(2026, 1, 1, tzinfo=UTC), binary=binary)


async def test_a_prefetched_batch_asks_the_store_nothing_more() -> None:
    store, pim = Store(), Pim()
    store.rows[key(1)] = "m/known"
    media = MediaTransfer(Dam(), pim, store.known, remember=store.remember)
    batch = [asset(1), asset(2), asset(3)]
    await media.prefetch(a.binary for a in batch if a.binary is not None)
    asked = len(store.asked)
    assert set(store.asked) >= {key(1), key(2), key(3)}

    done = [await media.transfer(a) for a in batch]

    assert len(store.asked) == asked  # no lookup after the prefetch
    assert [d.uploaded for d in done] == [False, True, True]
    assert done[0].media_code == "m/known"
    assert pim.uploads == ["2.png", "3.png"]
    assert store.recorded == [key(2), key(3)]  # recorded at once, not with the batch
    # The same binaries again (another batch): found, by this process's own records too.
    await media.prefetch(a.binary for a in batch if a.binary is not None)
    again = [await media.transfer(a) for a in batch]
    assert [d.uploaded for d in again] == [False, False, False]
    assert [d.media_code for d in again] == [d.media_code for d in done]
    assert len(store.asked) == asked and len(pim.uploads) == 2


async def test_without_a_prefetch_transfers_still_look_up() -> None:
    store, pim = Store(), Pim()
    store.rows[key(5)] = "m/five"
    media = MediaTransfer(Dam(), pim, store.known, remember=store.remember)

    done = await media.transfer(asset(5))

    assert (done.uploaded, done.media_code) == (False, "m/five")
    assert key(5) in store.asked and pim.uploads == []


async def test_without_remember_an_absent_key_is_asked_again() -> None:
    """Uploads are then recorded by their batch only: a later lookup must reach the store."""
    store, pim = Store(), Pim()
    media = MediaTransfer(Dam(), pim, store.known)
    await media.prefetch([b for b in [asset(7).binary] if b is not None])
    store.rows[key(7)] = "m/by-the-batch"

    done = await media.transfer(asset(7))

    assert (done.uploaded, done.media_code) == (False, "m/by-the-batch")


async def test_a_bulk_lookup_serves_the_prefetch() -> None:
    """With ``known_codes`` (one store read for many keys), the prefetch asks nothing per key."""
    store, pim = Store(), Pim()
    store.rows[key(1)] = "m/known"
    bulk: list[list[str]] = []

    def known_codes(keys: list[str]) -> dict[str, str]:
        bulk.append(keys)
        return {k: store.rows[k] for k in keys if k in store.rows}

    media = MediaTransfer(Dam(), pim, store.known, remember=store.remember, known_codes=known_codes)
    await media.prefetch(a.binary for a in (asset(1), asset(2)) if a.binary is not None)

    done = [await media.transfer(a) for a in (asset(1), asset(2))]

    assert 1 == len(bulk) and {key(1), key(2)} <= set(bulk[0])
    assert store.asked == []  # no lookup per key, before or after the prefetch
    assert [(d.uploaded, d.media_code) for d in done] == [(False, "m/known"), (True, "m/1/2.png")]
