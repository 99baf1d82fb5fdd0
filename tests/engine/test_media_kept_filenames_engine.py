"""
Rules mode end to end: a family whose naming convention reads the main media's filename gets
each asset's file under its own name, even when two files hold the same bytes; the PIM (the
simulator runs the convention at creation) then extracts each asset's own product reference.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app, load_seed

ROOT = Path(__file__).resolve().parents[2]
OLD = time.time() - 3600
UPLOAD = "POST /api/rest/v1/asset-media-files"

CONFIG = """
[pim]
base_url = "http://pim.test"
client_id = "demo_client"
secret = "demo_secret"
username = "demo"
password = "demo"
[store]
url = "sqlite:///{tmp}/state.db"
[server]
enabled = false
[runtime]
pid_file = "{tmp}/damsync.pid"
[[sources]]
name = "drop"
kind = "folder"
[sources.folder]
path = "{tmp}/drop"
settle_seconds = 0
[sources.mapping]
unmatched = "skip"
[[sources.mapping.families]]
family = "model_pictures"
code = "{{id}}"
[sources.mapping.families.attributes]
main_image = {{ binary = true, required = true }}
"""


def seed(source: str) -> dict[str, Any]:
    """The links seed, its convention reading ``source`` (``main_image`` or ``code``)."""
    data = load_seed(ROOT / "config" / "sim" / "pim-links-seed.json")
    family = data["asset_families"][0]
    family["naming_convention"] = {
        "source": {"property": source, "locale": None, "channel": None},
        "pattern": r"/^(?P<product_ref>[a-z]+_[0-9]+)_(?P<view>[a-z]+)(\.jpg)?$/",
        "abort_asset_creation_on_error": False,
    }
    return data


async def synced(tmp_path: Path, data: dict[str, Any], files: dict[str, bytes]):
    """Drop the files, run one pass; the PIM's model_pictures assets and its upload count."""
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, body in files.items():
        (folder / name).write_bytes(body)
        os.utime(folder / name, (OLD, OLD))
    path = tmp_path / "damsync.toml"
    path.write_text(CONFIG.format(tmp=tmp_path), encoding="utf-8")
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
        answer = await pim.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        )
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        items = (
            await pim.get("/api/rest/v1/asset-families/model_pictures/assets", headers=headers)
        ).json()["_embedded"]["items"]
    uploads = sum(stats["requests"].get(UPLOAD, {}).values())
    refs = {i["code"]: [v["data"] for v in i["values"].get("product_ref", [])] for i in items}
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
