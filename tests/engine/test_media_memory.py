"""
Small binaries skip the spool: held in memory between download and upload, verified first.

A binary whose announced size is at most ``memory_binary_bytes`` never touches the disk; a
larger one, or one of unknown size, is spooled as before. Held or spooled, a binary that fails
its checksum is never uploaded, and a source that sends more than it announced cannot grow the
buffer past the announced size.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.core.errors import SourceAssetError
from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_spool import BinaryTooLargeError, SpoolUnavailableError
from daemon.engine.media_transfer import MediaTransfer
from daemon.pim.media import HeldBinary
from daemon.sources.checksums import verified

CHUNK = 1000


class Dam:
    """Binaries by id in 1000-byte chunks; with ``verify``, checked as the REST source does."""

    def __init__(self, *, verify: bool = True, **binaries: bytes) -> None:
        self.binaries = binaries
        self.verify = verify
        self.yielded = 0

    def open_binary(self, asset: DamAsset) -> Any:
        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncIterator[bytes]]:
            data = self.binaries[asset.id]

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(data), CHUNK):
                    self.yielded += 1
                    yield data[i : i + CHUNK]

            assert asset.binary is not None
            if not self.verify:
                yield chunks()
                return
            yield verified(
                chunks(),
                source="dam",
                asset_id=asset.id,
                path="binary",
                expected_size=asset.binary.size,
                content_length=None,
                checksum=asset.binary.checksum,
            )

        return opener()


class Pim:
    """Records what each upload was given, and what the spool directory held meanwhile."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.sources: list[Path | HeldBinary] = []
        self.spooled_during: list[list[str]] = []

    async def upload_media_file(
        self, source: Path | HeldBinary, *, filename: str, mime_type: str | None = None
    ) -> str:
        self.sources.append(source)
        self.spooled_during.append(sorted(p.name for p in self.spool.iterdir()))
        return f"0/{len(self.sources)}/{filename}"


def asset(asset_id: str, data: bytes, *, size: int | None, checksum: str | None = None) -> DamAsset:
    digest = checksum if checksum is not None else hashlib.sha256(data).hexdigest()
    ref = BinaryRef(
        url=f"http://dam/{asset_id}", filename=f"{asset_id}.png", size=size, checksum=digest
    )
    return DamAsset(asset_id, datetime(2026, 1, 1, tzinfo=UTC), binary=ref)


def transfer_of(dam: Dam, pim: Pim, **kw: Any) -> MediaTransfer:
    kw.setdefault("memory_binary_bytes", 10_000)
    return MediaTransfer(dam, pim, lambda key: None, spool_dir=pim.spool, **kw)


async def test_small_announced_binary_is_uploaded_from_memory(tmp_path):
    """Announced within the limit: the uploader gets the verified bytes, the spool stays empty."""
    data = bytes(range(256)) * 30
    pim = Pim(tmp_path)
    done = await transfer_of(Dam(a=data), pim).transfer(asset("a", data, size=len(data)))
    [source] = pim.sources
    assert isinstance(source, HeldBinary)  # what the PIM client sends as one body
    assert (data, [[]], True, len(data)) == (
        source.held,
        pim.spooled_during,
        done.uploaded,
        done.size,
    )
    assert [] == list(tmp_path.iterdir())


async def test_binary_at_the_limit_stays_in_memory_and_one_over_is_spooled(tmp_path):
    """The limit is inclusive; past it, and without an announced size, the spool is used."""
    pim = Pim(tmp_path)
    transfer = transfer_of(
        Dam(at=b"a" * 10_000, over=b"o" * 10_001, unknown=b"u" * 5), pim, concurrency=1
    )
    await transfer.transfer(asset("at", b"a" * 10_000, size=10_000))
    await transfer.transfer(asset("over", b"o" * 10_001, size=10_001))
    await transfer.transfer(asset("unknown", b"u" * 5, size=None))
    kinds = [type(s).__name__ for s in pim.sources]
    assert ["HeldBytes", "PosixPath", "PosixPath"] == kinds
    assert [0, 1, 1] == [len(names) for names in pim.spooled_during]
    assert [] == list(tmp_path.iterdir())


async def test_held_binary_failing_its_checksum_is_not_uploaded(tmp_path):
    """The whole binary is verified before the upload starts: a mismatch uploads nothing."""
    data = b"x" * 3000
    pim = Pim(tmp_path)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(SourceAssetError, match="mismatch"):
        await transfer_of(Dam(a=data), pim).transfer(
            asset("a", data, size=len(data), checksum=wrong)
        )
    assert ([], []) == (pim.sources, list(tmp_path.iterdir()))


async def test_source_sending_more_than_announced_is_cut_at_the_announced_size(tmp_path):
    """A source that does not check the length cannot grow the buffer past what it announced."""
    data = b"z" * 9000
    dam, pim = Dam(verify=False, a=data), Pim(tmp_path)
    with pytest.raises(SourceAssetError, match="longer than the announced 2000 bytes") as caught:
        await transfer_of(dam, pim).transfer(asset("a", data, size=2000))
    assert ("size", 3, []) == (caught.value.field, dam.yielded, pim.sources)


async def test_announced_size_over_max_binary_bytes_is_refused_not_held(tmp_path):
    """``max_binary_bytes`` below the memory limit still refuses the binary before reading it."""
    dam, pim = Dam(a=b"y" * 5000), Pim(tmp_path)
    transfer = transfer_of(dam, pim, max_binary_bytes=4096)
    with pytest.raises(BinaryTooLargeError, match="4096"):
        await transfer.transfer(asset("a", b"y" * 5000, size=5000))
    assert (0, []) == (dam.yielded, pim.sources)


async def test_same_bytes_are_deduplicated_after_a_memory_upload(tmp_path):
    """A held binary's code is remembered under its checksum: its twin is not uploaded again."""
    data = b"twin" * 100
    store: dict[str, str] = {}
    pim = Pim(tmp_path)
    transfer = MediaTransfer(
        Dam(a=data, b=data),
        pim,
        store.get,
        spool_dir=tmp_path,
        remember=store.update,
    )
    first = await transfer.transfer(asset("a", data, size=len(data)))
    second = await transfer.transfer(asset("b", data, size=len(data)))
    assert (True, False, first.media_code) == (first.uploaded, second.uploaded, second.media_code)
    assert 1 == len(pim.sources)


async def test_lookups_of_several_keys_keep_their_order(tmp_path):
    """The normalised key is asked first, then the legacy bare hex; found there, no upload."""
    data = b"legacy"
    hexdigest = hashlib.sha256(data).hexdigest()
    asked: list[str] = []

    def known(key: str) -> str | None:
        asked.append(key)
        return "old/code" if key == hexdigest else None

    pim = Pim(tmp_path)
    done = await MediaTransfer(Dam(a=data), pim, known, spool_dir=tmp_path).transfer(
        asset("a", data, size=len(data))
    )
    assert (f"sha256:{hexdigest}", hexdigest) == tuple(asked)
    assert ("old/code", False, []) == (done.media_code, done.uploaded, pim.sources)


async def test_unusable_spool_fails_even_when_the_binary_would_be_held(tmp_path):
    """A missing spool directory is still found at the first transfer, not the first big binary."""
    spool = tmp_path / "no-such-spool"
    data = b"small"
    transfer = MediaTransfer(Dam(a=data), Pim(tmp_path), lambda key: None, spool_dir=spool)
    with pytest.raises(SpoolUnavailableError) as caught:
        await transfer.transfer(asset("a", data, size=len(data)))
    assert (True, True) == (
        str(spool) in str(caught.value),
        "runtime.spool_dir" in str(caught.value),
    )


async def test_spool_is_probed_once_then_only_used_for_big_binaries(tmp_path):
    """After one good probe, small binaries never touch the spool directory again."""
    spool = tmp_path / "spool"
    spool.mkdir()
    data = b"small"
    pim = Pim(tmp_path)
    transfer = MediaTransfer(Dam(a=data, b=data * 2), pim, lambda key: None, spool_dir=spool)
    await transfer.transfer(asset("a", data, size=len(data)))
    spool.rmdir()
    done = await transfer.transfer(asset("b", data * 2, size=len(data) * 2))
    assert (True, 2) == (done.uploaded, len(pim.sources))
