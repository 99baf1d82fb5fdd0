"""
Rules mode end to end: a family whose naming convention reads the main media's filename gets
each asset's file under its own name, even when two files hold the same bytes; the PIM (the
simulator runs the convention at creation) then extracts each asset's own product reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app
from tests.folder_rig import (
    folder_source,
    links_seed,
    local_state,
    pim_assets,
    pim_keys,
    settled_file,
)

UPLOAD = "POST /api/rest/v1/asset-media-files"


def config(tmp: Path) -> str:
    """One hot folder, ``tmp/drop``, into the links seed's ``model_pictures`` by file name."""
    drop = folder_source("drop", tmp / "drop", "model_pictures", "{id}")
    return "[pim]\n" + pim_keys("http://pim.test") + local_state(tmp) + drop


def seed(source: str) -> dict[str, Any]:
    """The links seed, its convention reading ``source`` (``main_image`` or ``code``)."""
    return links_seed(
        source={"property": source, "locale": None, "channel": None},
        pattern=r"/^(?P<product_ref>[a-z]+_[0-9]+)_(?P<view>[a-z]+)(\.jpg)?$/",
        abort_asset_creation_on_error=False,
    )


async def synced(tmp_path: Path, data: dict[str, Any], files: dict[str, bytes]):
    """Drop the files, run one pass; the PIM's model_pictures assets and its upload count."""
    for name, body in files.items():
        settled_file(tmp_path / "drop", name, body)
    path = tmp_path / "damsync.toml"
    path.write_text(config(tmp_path), encoding="utf-8")
    settings = load_settings(path, {})
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()
    pim_app = create_pim_app(data)
    app = SyncApp.build(settings, services, pim_transport=httpx.ASGITransport(pim_app))
    try:
        await app.start()
        result = await app.runners[0].run_once()
        assert ("succeeded", 0) == (result.status, result.failed), result.error
    finally:
        await app.aclose()
        services.store.dispose()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(pim_app), base_url="http://pim.test"
    ) as pim:
        stats = (await pim.get("/_sim/stats")).json()
        items = await pim_assets(pim, "model_pictures")
    uploads = sum(stats["requests"].get(UPLOAD, {}).values())
    refs = {
        code: [v["data"] for v in i["values"].get("product_ref", [])] for code, i in items.items()
    }
    return refs, uploads


async def test_same_bytes_under_two_names_give_each_asset_its_own_product(tmp_path):
    """jacket_001_front.jpg and jacket_002_front.jpg hold one image: two uploads, two refs."""
    files = {"jacket_001_front.jpg": b"one image", "jacket_002_front.jpg": b"one image"}
    refs, uploads = await synced(tmp_path, seed("main_image"), files)
    assert 2 == uploads
    assert ["jacket_001"] == refs[sanitise_code("jacket_001_front.jpg")]
    assert ["jacket_002"] == refs[sanitise_code("jacket_002_front.jpg")]


async def test_a_convention_on_the_code_still_shares_one_upload(tmp_path):
    """The code is read, not the filename: the same bytes are uploaded once."""
    files = {"jacket_001_front.jpg": b"one image", "jacket_002_front.jpg": b"one image"}
    _refs, uploads = await synced(tmp_path, seed("code"), files)
    assert 1 == uploads
