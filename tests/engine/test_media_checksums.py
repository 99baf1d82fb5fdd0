"""
Media dedupe by normalised checksum: every announced form of one digest is one binary, and media
codes stored by earlier versions (bare hex keys) keep matching, so an upgrade uploads nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_hold import HeldBytes
from daemon.engine.media_transfer import MediaTransfer
from daemon.sources.checksums import UnusableBinaryError

DATA = b"one binary, many spellings of its checksum"
SHA256 = hashlib.sha256(DATA)
MD5 = hashlib.md5(DATA, usedforsecurity=False)
KEY = f"sha256:{SHA256.hexdigest()}"


class Dam:
    def __init__(self) -> None:
        self.opened = 0

    def open_binary(self, asset: DamAsset):
        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncIterator[bytes]]:
            self.opened += 1

            async def chunks() -> AsyncIterator[bytes]:
                yield DATA

            yield chunks()

        return opener()


class Pim:
    def __init__(self) -> None:
        self.uploads = 0

    async def upload_media_file(
        self, path: Path | HeldBytes, *, filename: str, mime_type: str | None = None
    ) -> str:
        self.uploads += 1
        return f"m/{self.uploads}/{filename}"


class Store:
    """``media_files`` for one source: checksum -> media code, with the lookups it was asked."""

    def __init__(self, rows: dict[str, str] | None = None) -> None:
        self.rows = dict(rows or {})
        self.asked: list[str] = []

    def known(self, checksum: str) -> str | None:
        self.asked.append(checksum)
        return self.rows.get(checksum)

    def remember(self, codes: Mapping[str, str]) -> None:
        self.rows.update(codes)


def asset(checksum: str | None, asset_id: str = "a1") -> DamAsset:
    binary = BinaryRef(url="http://dam/f", filename="f.png", checksum=checksum)
    return DamAsset(asset_id, datetime(2026, 1, 1, tzinfo=UTC), binary=binary)


def transfer(store: Store, dam: Dam, pim: Pim, tmp_path: Path) -> MediaTransfer:
    return MediaTransfer(dam, pim, store.known, spool_dir=tmp_path, remember=store.remember)


@pytest.mark.parametrize(
    "announced",
    [
        SHA256.hexdigest(),
        SHA256.hexdigest().upper(),
        f"sha256:{SHA256.hexdigest()}",
        f"SHA-256:{base64.b64encode(SHA256.digest()).decode()}",
    ],
)
async def test_every_form_of_one_digest_finds_the_same_media_code(announced, tmp_path):
    """Stored under ``sha256:<hex>``, any announced form finds it without a download."""
    store, dam, pim = Store({KEY: "m/0/f.png"}), Dam(), Pim()
    done = await transfer(store, dam, pim, tmp_path).transfer(asset(announced))
    assert ("m/0/f.png", KEY, False, 0, 0) == (
        done.media_code,
        done.checksum,
        done.uploaded,
        dam.opened,
        pim.uploads,
    )


async def test_a_fresh_upload_is_keyed_by_the_normalised_form(tmp_path):
    """The store learns ``algorithm:hex``, never the DAM's spelling."""
    store, dam, pim = Store(), Dam(), Pim()
    done = await transfer(store, dam, pim, tmp_path).transfer(asset(SHA256.hexdigest().upper()))
    assert (KEY, True) == (done.checksum, done.uploaded)
    assert {KEY: done.media_code} == store.rows


@pytest.mark.parametrize(
    ("announced", "legacy_key"),
    [
        # before: the DAM's checksum was stored as announced ...
        (SHA256.hexdigest(), SHA256.hexdigest()),
        (SHA256.hexdigest().upper(), SHA256.hexdigest().upper()),
        (MD5.hexdigest(), MD5.hexdigest()),
        # ... and without one, our own SHA-256 in bare hex
        (None, SHA256.hexdigest()),
    ],
)
async def test_codes_stored_by_earlier_versions_keep_matching(announced, legacy_key, tmp_path):
    """A bare-hex key of an earlier version is found: nothing is uploaded again."""
    store, dam, pim = Store({legacy_key: "m/old/f.png"}), Dam(), Pim()
    done = await transfer(store, dam, pim, tmp_path).transfer(asset(announced))
    assert ("m/old/f.png", False, 0) == (done.media_code, done.uploaded, pim.uploads)
    assert ":" in done.checksum  # the batch records it under the normalised key from now on
    assert store.asked[0] == done.checksum or announced is None


async def test_a_normalised_hit_asks_the_store_once(tmp_path):
    """The legacy keys are only tried after the normalised one missed."""
    store = Store({KEY: "m/0/f.png"})
    await transfer(store, Dam(), Pim(), tmp_path).transfer(asset(f"sha256:{SHA256.hexdigest()}"))
    assert [KEY] == store.asked


async def test_no_key_is_asked_twice_when_the_dam_announces_sha256(tmp_path):
    """The DAM's sha256 and ours are the same keys: asked before the download only."""
    store = Store()
    await transfer(store, Dam(), Pim(), tmp_path).transfer(asset(SHA256.hexdigest()))
    assert [KEY, SHA256.hexdigest()] == store.asked


async def test_an_md5_announced_binary_is_also_found_by_our_sha256(tmp_path):
    """Uploaded under ``md5:<hex>``; also remembered by our SHA-256, so an asset without a
    checksum (or with another algorithm's) finds the same upload."""
    store, dam, pim = Store(), Dam(), Pim()
    media = transfer(store, dam, pim, tmp_path)
    first = await media.transfer(asset(f"md5:{MD5.hexdigest()}"))
    assert f"md5:{MD5.hexdigest()}" == first.checksum
    assert {f"md5:{MD5.hexdigest()}", KEY} == set(store.rows)
    second = await media.transfer(asset(None, "a2"))
    assert (first.media_code, False, 1) == (second.media_code, second.uploaded, pim.uploads)


async def test_an_unreadable_announced_checksum_fails_the_asset_before_any_download(tmp_path):
    """Asset, field and the value's problem; no download, no upload."""
    store, dam, pim = Store(), Dam(), Pim()
    with pytest.raises(UnusableBinaryError) as info:
        await transfer(store, dam, pim, tmp_path).transfer(asset("sha256:nope!"))
    assert ("a1", "checksum") == (info.value.asset_id, info.value.field)
    assert "announced checksum 'sha256:nope!' cannot be read" in info.value.reason
    assert (0, 0, []) == (dam.opened, pim.uploads, store.asked)
