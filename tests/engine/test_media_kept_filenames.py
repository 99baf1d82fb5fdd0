"""
Rules mode: a media file keeps the filename of its first upload, and a family's naming
convention on its main media reads that name. A transfer that keeps its filename reuses an
earlier upload only when both the bytes and the filename match; the others still reuse any.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_transfer import MediaTransfer, named_key
from tests.engine.test_media_checksums import DATA, KEY, Dam, Pim, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def asset(asset_id: str, filename: str, *, announced: bool = True) -> DamAsset:
    checksum = hashlib.sha256(DATA).hexdigest() if announced else None
    binary = BinaryRef(url=f"http://dam/{asset_id}", filename=filename, checksum=checksum)
    return DamAsset(asset_id, T0, binary=binary)


def transfer(store: Store, pim: Pim, tmp_path: Path) -> MediaTransfer:
    return MediaTransfer(Dam(), pim, store.known, spool_dir=tmp_path, remember=store.remember)


@pytest.mark.parametrize("announced", [True, False])
async def test_same_bytes_under_another_filename_are_uploaded_again_when_the_name_is_kept(
    tmp_path, announced
):
    """jacket_001.jpg and jacket_002.jpg hold the same bytes: two media files, each its name."""
    store, pim = Store(), Pim()
    media = transfer(store, pim, tmp_path)
    first = await media.transfer(
        asset("a1", "jacket_001.jpg", announced=announced), keep_filename=True
    )
    second = await media.transfer(
        asset("a2", "jacket_002.jpg", announced=announced), keep_filename=True
    )
    assert (2, True, True) == (pim.uploads, first.uploaded, second.uploaded)
    assert first.media_code.endswith("/jacket_001.jpg")
    assert second.media_code.endswith("/jacket_002.jpg")
    # The same name again is the same media file: nothing uploaded.
    again = await media.transfer(
        asset("a3", "jacket_002.jpg", announced=announced), keep_filename=True
    )
    assert (2, second.media_code) == (pim.uploads, again.media_code)


async def test_a_plain_upload_is_not_reused_under_another_name_but_is_by_plain_transfers(tmp_path):
    """A manual uploaded as manual.pdf: the main media of IMG_7.jpg gets its own upload, and a
    transfer that does not keep its name reuses either."""
    store, pim = Store(), Pim()
    media = transfer(store, pim, tmp_path)
    plain = await media.transfer(asset("a1", "manual.pdf"))
    named = await media.transfer(asset("a2", "IMG_7.jpg"), keep_filename=True)
    assert (2, True) == (pim.uploads, named.uploaded)
    assert named.media_code != plain.media_code
    reused = await media.transfer(asset("a3", "other.pdf"))
    assert (2, False) == (pim.uploads, reused.uploaded)
    # Recorded under its name at once (a crash costs no second upload), and as plain bytes.
    assert named.media_code == store.rows[named_key(KEY, "IMG_7.jpg")]


async def test_transfers_of_the_same_bytes_at_once_keep_their_own_names(tmp_path):
    """Several assets in one batch: one upload per distinct filename, not per asset."""
    store, pim = Store(), Pim()
    media = transfer(store, pim, tmp_path)
    names = ["a_001.jpg", "a_002.jpg", "a_001.jpg", "a_002.jpg"]
    done = await asyncio.gather(
        *(media.transfer(asset(f"x{i}", name), keep_filename=True) for i, name in enumerate(names))
    )
    assert 2 == pim.uploads
    assert [d.media_code.rsplit("/", 1)[1] for d in done] == names


def test_a_named_key_fits_the_store_column_whatever_the_filename():
    """The media_files checksum column holds 128 characters."""
    assert len(named_key(KEY, "x" * 255 + ".jpg")) <= 128
    assert named_key(KEY, "a.jpg") != named_key(KEY, "b.jpg")
