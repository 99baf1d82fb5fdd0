"""The family structure cache and the DAM -> PIM media transfer."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.core.errors import SourceAssetError
from daemon.core.records import AssetFamily, BinaryRef, Channel, DamAsset
from daemon.engine.media_hold import HeldBytes
from daemon.engine.media_transfer import MediaTransfer
from daemon.engine.structure_cache import StructureCache


class Reader:
    def __init__(self) -> None:
        self.family_reads = 0
        self.channel_reads = 0

    async def get_family_structure(self, family: str) -> AssetFamily:
        self.family_reads += 1
        return AssetFamily(code=family, attributes={})

    async def iter_channels(self) -> AsyncIterator[Channel]:
        self.channel_reads += 1
        yield Channel("ecommerce", ("en_US",))


class Counter:
    def __init__(self) -> None:
        self.hits = self.misses = 0

    def structure_cache(self, *, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1


async def test_structure_is_read_once_until_ttl_or_invalidation():
    """Families and channels are read once, again after the TTL or an invalidation."""
    now = [0.0]
    reader, counter = Reader(), Counter()
    cache = StructureCache(reader, ttl=60, clock=lambda: now[0], observer=counter)
    for _ in range(3):
        await cache.family("packshots")
        await cache.channels()
    assert (1, 1, 4, 2) == (reader.family_reads, reader.channel_reads, counter.hits, counter.misses)
    now[0] = 61
    await cache.family("packshots")
    cache.invalidate("packshots")
    await cache.family("packshots")
    assert 3 == reader.family_reads


async def test_created_options_are_added_without_a_read():
    """An option the engine created is added to the cached family."""
    cache = StructureCache(Reader())
    await cache.family("packshots")
    cache.add_option("packshots", "colour", "red")
    assert frozenset({"red"}) == (await cache.family("packshots")).options["colour"]


class Dam:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opened = 0

    def open_binary(self, asset: DamAsset):
        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncIterator[bytes]]:
            self.opened += 1

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(self.data), 7):
                    yield self.data[i : i + 7]

            yield chunks()

        return opener()


class Pim:
    def __init__(self) -> None:
        self.uploads: list[tuple[bytes, str, str | None]] = []

    async def upload_media_file(
        self, path: Path | HeldBytes, *, filename: str, mime_type: str | None = None
    ) -> str:
        data = path.held if isinstance(path, HeldBytes) else path.read_bytes()  # noqa: ASYNC240
        self.uploads.append((data, filename, mime_type))
        return f"a/b/{filename}"


def dam_asset(checksum: str | None = None, binary: bool = True) -> DamAsset:
    ref = BinaryRef(url="http://dam/f?sig=secret", filename="x.png", mime_type="image/png")
    if checksum:
        ref = BinaryRef(url=ref.url, filename="x.png", mime_type="image/png", checksum=checksum)
    return DamAsset("a1", datetime(2026, 1, 1, tzinfo=UTC), binary=ref if binary else None)


async def test_transfer_streams_checksums_and_uploads(tmp_path):
    """A new binary is spooled, hashed and uploaded once; the spool file is removed."""
    data = b"0123456789" * 50
    dam, pim = Dam(data), Pim()
    transfer = MediaTransfer(dam, pim, lambda checksum: None, spool_dir=tmp_path)
    done = await transfer.transfer(dam_asset())
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" == done.checksum
    assert (True, "a/b/x.png", [(data, "x.png", "image/png")]) == (
        done.uploaded,
        done.media_code,
        pim.uploads,
    )
    assert [] == list(tmp_path.iterdir())
    assert len(data) == transfer.uploaded_bytes


async def test_known_checksum_skips_download_and_upload(tmp_path):
    """A binary whose checksum already has a media code is neither downloaded nor uploaded."""
    dam, pim = Dam(b"x"), Pim()
    known = {f"sha256:{'ab' * 32}": "0/1/known.png"}
    transfer = MediaTransfer(dam, pim, known.get, spool_dir=tmp_path)
    done = await transfer.transfer(dam_asset(checksum="ab" * 32))
    assert ("0/1/known.png", False, 0, []) == (
        done.media_code,
        done.uploaded,
        dam.opened,
        pim.uploads,
    )


async def test_same_bytes_found_after_download_are_not_uploaded(tmp_path):
    """Without a DAM checksum, our own SHA-256 still finds an earlier upload."""
    data = b"same bytes"
    known = {hashlib.sha256(data).hexdigest(): "0/1/earlier.png"}
    pim = Pim()
    transfer = MediaTransfer(Dam(data), pim, known.get, spool_dir=tmp_path)
    done = await transfer.transfer(dam_asset())
    assert ("0/1/earlier.png", []) == (done.media_code, pim.uploads)


async def test_asset_without_binary_is_a_specific_error(tmp_path):
    """No binary is a per-asset error naming the asset and field."""
    transfer = MediaTransfer(Dam(b""), Pim(), lambda c: None, spool_dir=tmp_path)
    with pytest.raises(SourceAssetError, match="asset 'a1', field 'binary'"):
        await transfer.transfer(dam_asset(binary=False))


def test_signed_urls_stay_out_of_reprs():
    """A signed binary URL never shows in a repr."""
    assert "secret" not in repr(dam_asset())


async def test_an_upload_is_remembered_at_once(tmp_path):
    """The media code of a fresh upload is recorded right away, before any batch commits."""
    remembered: list[tuple[str, str]] = []
    transfer = MediaTransfer(
        Dam(b"bytes"),
        Pim(),
        lambda checksum: None,
        spool_dir=tmp_path,
        remember=lambda codes: remembered.extend(codes.items()),
    )
    done = await transfer.transfer(dam_asset())
    assert [(done.checksum, done.media_code)] == remembered
