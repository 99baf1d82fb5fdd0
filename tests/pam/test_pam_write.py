"""The write path end to end, in-process: legacy PAM simulator -> damsync -> PIM simulator."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from daemon.engine.pam_migrate import build_plan, survey_source
from daemon.engine.pam_report import ReportLine
from daemon.engine.pam_strategy import PamOptions
from daemon.engine.pam_write import PamWriter
from daemon.pam import PamApi, PamAsset, PamFile, PamRead
from daemon.pam.pam_fetch import ApiFetcher
from daemon.pam.pam_progress import ProgressFile
from daemon.pam.pam_records import LocalFile
from daemon.pim import PasswordAuth, PimClient
from daemon.sim.pim import create_pim_app
from daemon.store import PamProgressStore
from tests.pam.conftest import ProgressOpener
from tests.pam.helpers import FAST_RETRY, pam_reader, sim_app

PIM = "http://pim.test"
SEED = {
    "users": [{"client_id": "c", "secret": "s", "username": "u", "password": "p"}],
    "locales": ["de_DE", "en_US", "fr_FR"],
    "channels": [
        {"code": "ecommerce", "locales": ["de_DE", "en_US", "fr_FR"]},
        {"code": "mobile", "locales": ["en_US"]},
        {"code": "print", "locales": ["en_US", "fr_FR"]},
    ],
    "asset_families": [],
}


class _Source:
    def __init__(self, api: PamApi) -> None:
        self.api = api

    def reads(self) -> AsyncIterator[PamRead]:
        return self.api.assets()


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, nothing is flushed."""


class _DyingFetcher:
    """Fetches through the API; dies after ``limit`` fetches."""

    def __init__(self, inner: ApiFetcher, limit: int | None) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    async def fetch(self, asset: str, file: PamFile) -> LocalFile:
        if self.limit is not None and self.count >= self.limit:
            raise _Killed
        self.count += 1
        return await self.inner.fetch(asset, file)


def _resolve(_: PamAsset) -> str:
    return "pam_assets"


async def _migrate(
    pam_app: Any, pim_app: Any, progress_path: Any, limit: int | None = None
) -> tuple[Any, list[ReportLine]]:
    return await _migrate_with(pam_app, pim_app, lambda: ProgressFile(progress_path), limit)


async def _migrate_with(
    pam_app: Any, pim_app: Any, open_progress: ProgressOpener, limit: int | None = None
) -> tuple[Any, list[ReportLine]]:
    """One run; a kill leaves the progress as SIGKILL would (nothing pending is written)."""
    lines: list[ReportLine] = []
    async with pam_reader(pam_app) as api:
        source = _Source(api)
        options = PamOptions()
        plan = build_plan(await survey_source(source, _resolve, options), options)
        auth = PasswordAuth(client_id="c", secret="s", username="u", password="p")
        async with PimClient(
            PIM, auth=auth, transport=httpx.ASGITransport(app=pim_app), retry=FAST_RETRY
        ) as pim:
            progress = open_progress()
            writer = PamWriter(pim, _DyingFetcher(ApiFetcher(api), limit), progress, lines.append)
            try:
                counts = await writer.run(plan, source, _resolve)
            except _Killed:
                _abandon(progress)
                raise
            progress.close()
    return counts, lines


def _abandon(progress: Any) -> None:
    """Release the progress without writing what it still holds (a killed process)."""
    if isinstance(progress, PamProgressStore):
        progress.engine.dispose()
    else:
        progress.close()


async def test_assets_land_with_their_files_uploaded_once_per_content(tmp_path):
    """Structure created, every valid asset written, shared contents uploaded once."""
    pam_app, pim_app = sim_app(assets=150), create_pim_app(SEED)
    counts, lines = await _migrate(pam_app, pim_app, tmp_path / "progress.sqlite")
    family = pim_app.state.pim.families["pam_assets"]
    assert "reference" == family.attribute_as_main_media
    assert {
        "reference",
        "reference_localizable",
        "variation_scopable",
        "variation_localizable_scopable",
    } <= set(family.attributes)
    assert 150 - 7 == len(family.assets) == counts.created  # 7 codes break the rule
    stored = pim_app.state.pim.media
    value = family.assets["pam_000000"].values["reference"][0]
    assert {"locale": None, "channel": None} == {k: value[k] for k in ("locale", "channel")}
    downloaded = [c for c, n in pam_app.state.downloads.items() if n]
    assert stored[value["data"]].content == pam_app.state.dataset.asset(0).references[0][1].content
    contents = {hashlib.sha256(m.content).digest() for m in stored.values()}
    assert len(contents) == len(stored) == counts.uploads < len(downloaded)
    assert counts.reused > 0
    gone = [
        line for line in lines if line.kind == "skipped_file" and "cannot be fetched" in line.reason
    ]
    assert {"pam_000006", "pam_000032"} <= {line.code for line in gone}


async def test_a_rerun_writes_nothing_and_uploads_nothing(open_progress):
    """Same PAM, same progress (file or state DB): every asset unchanged, no upload, no download."""
    pam_app, pim_app = sim_app(assets=40), create_pim_app(SEED)
    await _migrate_with(pam_app, pim_app, open_progress)
    uploads, downloads = pim_app.state.pim.uploads, sum(pam_app.state.downloads.values())
    counts, _ = await _migrate_with(pam_app, pim_app, open_progress)
    assert (0, 0, 40 - 2) == (counts.created + counts.updated, counts.uploads, counts.unchanged)
    assert (uploads, downloads) == (
        pim_app.state.pim.uploads,
        sum(pam_app.state.downloads.values()),
    )


@pytest.mark.parametrize("limit", [1, 17, 60])
async def test_killed_midway_then_rerun_finishes_without_a_duplicate_upload(open_progress, limit):
    """Killed after N fetches, run again: all assets written, each content uploaded once."""
    pam_app, pim_app = sim_app(assets=60), create_pim_app(SEED)
    with pytest.raises(_Killed):
        await _migrate_with(pam_app, pim_app, open_progress, limit=limit)
    counts, _ = await _migrate_with(pam_app, pim_app, open_progress)
    stored = pim_app.state.pim.media
    contents = {hashlib.sha256(m.content).digest() for m in stored.values()}
    assert len(contents) == len(stored) == pim_app.state.pim.uploads
    assert 60 - 3 == len(pim_app.state.pim.families["pam_assets"].assets)


async def test_a_target_attribute_of_another_type_stops_before_any_write(tmp_path):
    """The target already has `tags` as a number: the conflict is named, nothing is written."""
    from daemon.engine.pam_write import StructureConflictError

    seed = {
        **SEED,
        "asset_families": [
            {"code": "pam_assets", "attributes": [{"code": "tags", "type": "number"}]}
        ],
    }
    pam_app, pim_app = sim_app(assets=20), create_pim_app(seed)
    with pytest.raises(
        StructureConflictError, match=r"attribute pam_assets\.tags: type cannot change"
    ):
        await _migrate(pam_app, pim_app, tmp_path / "p.sqlite")
    assert ({}, 0) == (pim_app.state.pim.families["pam_assets"].assets, pim_app.state.pim.uploads)
