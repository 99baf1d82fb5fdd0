"""
The writer's media transfers run ``transfers`` at once (issue 18) and keep the one-at-a-time
guarantees: each content uploaded once, codes recorded at once, lines and batches in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from daemon.core.errors import PimRejected, SourceAssetError
from daemon.engine.pam_migrate import build_plan, survey_source
from daemon.engine.pam_report import ReportLine
from daemon.engine.pam_strategy import PamOptions
from daemon.engine.pam_values import TargetAsset, TargetValue
from daemon.engine.pam_write import PamTargetPim, PamWriter
from daemon.pam import PamAsset, PamFile
from daemon.pam.pam_fetch import ApiFetcher
from daemon.pam.pam_progress import ProgressFile
from daemon.pam.pam_records import LocalFile
from daemon.pim import PasswordAuth, PimClient
from daemon.pim.models import AssetUpsertResult
from daemon.pim.structure_records import JsonValue
from daemon.sim.pim import create_pim_app
from tests.pam.helpers import FAST_RETRY, pam_reader, sim_app
from tests.pam.test_pam_write import SEED, _Source

#: Scheduler turns a fake request takes: long enough for every ready task to start meanwhile.
TURNS = 5


class _Boom(Exception):
    """A failure the writer does not handle per file."""


class _Progress:
    """The progress in memory."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.media: dict[str, str] = {}
        self.assets: dict[tuple[str, str], str] = {}

    def key_checksum(self, key: str) -> str | None:
        return self.files.get(key)

    def media_code(self, checksum: str) -> str | None:
        return self.media.get(checksum)

    def remember_file(self, key: str, checksum: str) -> None:
        self.files[key] = checksum

    def remember_media(self, checksum: str, code: str) -> None:
        assert checksum not in self.media, "a content uploaded twice"
        self.media[checksum] = code

    def asset_fingerprint(self, family: str, code: str) -> str | None:
        return self.assets.get((family, code))

    def remember_assets(self, family: str, written: list[tuple[str, str]]) -> None:
        self.assets.update({(family, code): print_ for code, print_ in written})


class _Fetcher:
    """Files of ``contents`` by key, spooled to ``tmp``; counts the binaries held at once."""

    def __init__(self, tmp: Path, contents: Mapping[str, bytes], fail_at: int = 0) -> None:
        self.tmp, self.contents, self.fail_at = tmp, contents, fail_at
        self.fetches = self.held = self.peak_held = 0
        self.window_probe: Any = None
        self.peak_window = 0

    async def fetch(self, asset: str, file: PamFile) -> LocalFile:
        self.fetches += 1
        number = self.fetches
        if number == self.fail_at:
            raise _Boom
        if self.window_probe is not None:
            self.peak_window = max(self.peak_window, self.window_probe())
        for _ in range(TURNS):
            await asyncio.sleep(0)
        if file.key not in self.contents:
            raise SourceAssetError(asset_id=asset, field="file", path=file.key, reason="gone")
        content = self.contents[file.key]
        path = self.tmp / f"spool-{id(self)}-{number}"
        path.write_bytes(content)
        self.held += 1
        self.peak_held = max(self.peak_held, self.held)
        checksum = hashlib.sha256(content).hexdigest()
        return LocalFile(str(path), checksum, original_name=file.key, temporary=True)

    def discard(self, path: str) -> None:
        self.held -= 1
        os.unlink(path)


class _Pim:
    """Uploads and bulk upserts, recorded; ``refused`` contents get a 422."""

    def __init__(self, refused: Iterable[bytes] = ()) -> None:
        self.refused = set(refused)
        self.uploaded: dict[str, bytes] = {}
        self.batches: list[tuple[str, list[Mapping[str, JsonValue]]]] = []
        self.active = self.peak = 0

    async def upload_media_file(
        self,
        source: str | os.PathLike[str],
        *,
        filename: str | None = None,
        mime_type: str | None = None,
    ) -> str:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            for _ in range(TURNS):
                await asyncio.sleep(0)
            content = await asyncio.to_thread(Path(source).read_bytes)
            if content in self.refused:
                raise PimRejected("bad file", status_code=422)
            code = f"media_{len(self.uploaded)}"
            self.uploaded[code] = content
            return code
        finally:
            self.active -= 1

    async def upsert_assets(
        self, family: str, assets: Iterable[Mapping[str, JsonValue]]
    ) -> list[AssetUpsertResult]:
        bodies = list(assets)
        self.batches.append((family, bodies))
        return [AssetUpsertResult(i, str(body["code"]), "created") for i, body in enumerate(bodies)]


def _asset(code: str, *keys: str, checksums: Mapping[str, str] | None = None) -> TargetAsset:
    values = tuple(
        TargetValue("media", None, None, PamFile(key, checksum=(checksums or {}).get(key)))
        for key in keys
    )
    return TargetAsset("fam", code, values)


async def _write(
    pim: _Pim, fetcher: _Fetcher, assets: list[TargetAsset], transfers: int
) -> tuple[PamWriter, list[ReportLine]]:
    lines: list[ReportLine] = []
    writer = PamWriter(
        cast(PamTargetPim, pim),
        fetcher,
        _Progress(),
        lines.append,
        fetcher.discard,
        transfers=transfers,
    )
    fetcher.window_probe = lambda: len(writer._window)
    for asset in assets:
        await writer.add(asset)
    await writer.flush()
    return writer, lines


@pytest.mark.parametrize("transfers", [1, 3])
async def test_at_most_n_transfers_and_n_binaries_at_once(tmp_path, transfers):
    """60 distinct files: exactly N held at the peak, N uploads at most, 4 * N assets waiting."""
    contents = {f"k{i}": f"content {i}".encode() for i in range(60)}
    assets = [_asset(f"a{i}", f"k{2 * i}", f"k{2 * i + 1}") for i in range(30)]
    pim, fetcher = _Pim(), _Fetcher(tmp_path, contents)
    writer, _ = await _write(pim, fetcher, assets, transfers)
    assert (60, transfers) == (writer.counts.uploads, fetcher.peak_held)
    assert 1 <= pim.peak <= transfers
    assert fetcher.peak_window <= 4 * transfers
    assert (0, []) == (fetcher.held, list(tmp_path.iterdir()))


@pytest.mark.parametrize("known", [False, True], ids=["hashed-on-fetch", "checksum-known"])
async def test_one_content_in_concurrent_assets_is_uploaded_once(tmp_path, known):
    """12 assets in flight carry the same bytes under 12 keys: one upload, 11 reuses."""
    content = b"the same picture"
    checksum = hashlib.sha256(content).hexdigest()
    contents = {f"k{i}": content for i in range(12)}
    sums = dict.fromkeys(contents, checksum) if known else None
    assets = [_asset(f"a{i}", f"k{i}", checksums=sums) for i in range(12)]
    pim, fetcher = _Pim(), _Fetcher(tmp_path, contents)
    writer, _ = await _write(pim, fetcher, assets, 4)
    assert (1, 1, 11) == (len(pim.uploaded), writer.counts.uploads, writer.counts.reused)
    codes = {str(body["values"]) for _, bodies in pim.batches for body in bodies}
    assert 1 == len(codes)
    assert (1 if known else 12) == fetcher.fetches  # a known checksum waits without fetching


async def test_a_refused_shared_content_fails_each_file_as_one_at_a_time(tmp_path):
    """The PIM refuses a content three assets share: three lines, as with one transfer."""
    bad = b"refused"
    contents = {"k0": bad, "k1": bad, "k2": b"fine", "k3": bad}
    assets = [_asset(f"a{i}", f"k{i}") for i in range(4)] + [_asset("a4", "gone")]
    results = []
    for transfers in (1, 4):
        pim = _Pim(refused=[bad])
        writer, lines = await _write(pim, _Fetcher(tmp_path, contents), assets, transfers)
        c = writer.counts
        results.append(((c.uploads, c.reused, c.files_failed), lines, pim.batches))
    assert results[0] == results[1]
    assert (1, 0, 4) == results[1][0]
    assert ["a0", "a1", "a3", "a4"] == [line.code for line in results[1][1]]


async def test_a_failure_lets_the_uploads_in_flight_finish_and_record_their_code(tmp_path):
    """A fetch fails hard mid-run: the error surfaces, every upload made is in the progress."""
    contents = {f"k{i}": f"content {i}".encode() for i in range(40)}
    assets = [_asset(f"a{i}", f"k{i}") for i in range(40)]
    pim, fetcher = _Pim(), _Fetcher(tmp_path, contents, fail_at=9)
    progress = _Progress()
    writer = PamWriter(
        cast(PamTargetPim, pim), fetcher, progress, lambda _: None, fetcher.discard, transfers=4
    )
    with pytest.raises(_Boom):
        for asset in assets:
            await writer.add(asset)
        await writer.flush()
    assert 0 < len(pim.uploaded)
    assert sorted(pim.uploaded) == sorted(progress.media.values())
    assert [asyncio.current_task()] == list(asyncio.all_tasks())
    assert 0 == fetcher.held
    # No transfer starts after the failing one, wherever it is in the writer's window (21
    # fetches if the window's assets went on; up to 15 when the failure was only acted on once
    # the writer reached it, depending on the uploads' thread hops).
    assert 9 == fetcher.fetches


class _Recorded:
    """The client, each bulk upsert's codes recorded."""

    def __init__(self, pim: PimClient) -> None:
        self._pim = pim
        self.batches: list[tuple[str, list[str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pim, name)

    async def upsert_assets(
        self, family: str, assets: Iterable[Mapping[str, JsonValue]]
    ) -> list[AssetUpsertResult]:
        bodies = list(assets)
        self.batches.append((family, [str(body["code"]) for body in bodies]))
        return await self._pim.upsert_assets(family, bodies)


async def _migrate(tmp_path: Path, transfers: int) -> tuple[Any, list[ReportLine], Any]:
    pam_app, pim_app = sim_app(assets=250), create_pim_app(SEED)
    lines: list[ReportLine] = []

    def resolve(_: PamAsset) -> str:
        return "pam_assets"

    async with pam_reader(pam_app) as api:
        source = _Source(api)
        plan = build_plan(await survey_source(source, resolve, PamOptions()), PamOptions())
        auth = PasswordAuth(client_id="c", secret="s", username="u", password="p")
        transport = httpx.ASGITransport(app=pim_app)
        async with PimClient(
            "http://pim.test", auth=auth, transport=transport, retry=FAST_RETRY
        ) as pim:
            recorded = _Recorded(pim)
            progress = ProgressFile(tmp_path / f"progress-{transfers}.sqlite")
            writer = PamWriter(
                cast(PamTargetPim, recorded),
                ApiFetcher(api),
                progress,
                lines.append,
                transfers=transfers,
            )
            counts = await writer.run(plan, source, resolve)
            progress.close()
    stored = pim_app.state.pim.media
    assert len({hashlib.sha256(m.content).digest() for m in stored.values()}) == len(stored)
    return counts, lines, recorded.batches


async def test_lines_batches_and_counts_are_those_of_one_transfer_at_a_time(tmp_path):
    """250 assets (shared contents, files gone, bad codes): four at once changes no output."""
    one = await _migrate(tmp_path, 1)
    four = await _migrate(tmp_path, 4)
    assert one == four
    counts, lines, batches = four
    assert [100, 100, 250 - 100 - 100 - 11] == [len(codes) for _, codes in batches]
    assert counts.reused > 0 and counts.files_failed > 0
    assert {"skipped_file", "skipped_asset"} <= {line.kind for line in lines}
