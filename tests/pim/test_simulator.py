"""The client against the PIM simulator, in process through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.core.errors import PimNotFound
from daemon.core.records import PimAsset, PimValue
from daemon.pim import PasswordAuth, PimClient, UpsertStatus
from daemon.upstream.policy import RetryPolicy

sim = pytest.importorskip("daemon.sim.pim")

SEED = Path(__file__).resolve().parents[2] / "config" / "sim" / "pim-seed.json"
ASSETS_KEY = "PATCH /api/rest/v1/asset-families/{family}/assets"
RETRY = RetryPolicy(attempts=20, deadline=60, wait_initial=0.0, wait_max=0.01, retry_after_max=0.01)


class Sim:
    """The simulator app, a client on it and an unauthenticated helper for /_sim/."""

    def __init__(self, **options: Any) -> None:
        self.app = sim.create_pim_app(
            sim.load_seed(SEED), options=sim.PimSimOptions(base_url="http://pim.sim", **options)
        )
        self.transport = httpx.ASGITransport(app=self.app)
        self.helper = httpx.AsyncClient(transport=self.transport, base_url="http://pim.sim")

    def client(self, **kw: Any) -> PimClient:
        auth = PasswordAuth(
            client_id="demo_client", secret="demo_secret", username="demo", password="demo"
        )
        kw.setdefault("retry", RETRY)
        return PimClient("http://pim.sim", auth=auth, transport=self.transport, **kw)

    async def stats(self) -> dict[str, Any]:
        response = await self.helper.get("/_sim/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


@pytest.fixture(name="pim")
async def _pim() -> AsyncIterator[Sim]:
    s = Sim()
    yield s
    await s.helper.aclose()


def asset(i: int, **values: list[PimValue]) -> PimAsset:
    return PimAsset("packshots", f"asset_{i:04}", {"product_ref": [PimValue(f"ref{i}")], **values})


async def test_structure_round_trip(pim):
    """A family, attribute and option written by the client read back as written."""
    async with pim.client() as client:
        family = await client.upsert_asset_family("videos", {"labels": {"en_US": "Videos"}})
        attr = await client.upsert_asset_attribute(
            "videos", "format", {"type": "single_option", "labels": {"en_US": "Format"}}
        )
        option = await client.upsert_attribute_option("videos", "format", "hd", {"en_US": "HD"})
        again = await client.upsert_attribute_option("videos", "format", "hd", {"en_US": "HD!"})
        structure = await client.get_family_structure("videos")
        codes = [f.code async for f in client.iter_asset_families()]
        seeded = await client.get_family_structure("packshots")
    assert [UpsertStatus.CREATED] * 3 + [UpsertStatus.UPDATED] == [family, attr, option, again]
    assert {"en_US": "Videos"} == structure.labels
    assert "single_option" == structure.attributes["format"].type
    assert {"format": frozenset({"hd"})} == structure.options
    assert {"packshots", "notices", "videos"} <= set(codes)
    assert "media" == seeded.attribute_as_main_media
    assert {"tags", "colour"} == set(seeded.options)


async def test_250_assets_in_exactly_3_bulk_requests(pim):
    """250 assets are written with exactly three bulk PATCHes, all created."""
    async with pim.client() as client:
        results = await client.upsert_assets("packshots", [asset(i) for i in range(250)])
    stats = await pim.stats()
    assert 250 == sum(r.outcome == "created" for r in results)
    assert {"200": 3} == stats["requests"][ASSETS_KEY]
    assert 250 == stats["assets"]["packshots"]


async def test_bad_value_gives_per_item_422_and_the_rest_goes_on(pim):
    """An unknown option is rejected on its own item with field errors; neighbours are written."""
    bad = asset(2, colour=[PimValue("no_such_colour")])
    async with pim.client() as client:
        results = await client.upsert_assets("packshots", [asset(1), bad, asset(3)])
    assert ["created", "rejected", "created"] == [r.outcome for r in results]
    assert 422 == results[1].status_code
    assert "business rules" in results[1].message
    assert ["values.colour[0].data"] == [e.property for e in results[1].errors]


async def test_pagination_over_more_than_100_assets(pim):
    """205 assets come back over three pages, each exactly once; code IN filters too."""
    async with pim.client() as client:
        await client.upsert_assets("packshots", [asset(i) for i in range(205)])
        codes = [a.code async for a in client.iter_assets("packshots")]
        wanted = [f"asset_{i:04}" for i in range(0, 205, 2)]
        some = [a.code async for a in client.iter_assets("packshots", codes=wanted)]
    assert sorted(f"asset_{i:04}" for i in range(205)) == sorted(codes)
    assert sorted(wanted) == sorted(some)
    stats = await pim.stats()
    assert 3 <= sum(stats["requests"]["GET /api/rest/v1/asset-families/{family}/assets"].values())


async def test_media_upload_then_download_round_trip(pim, tmp_path):
    """A file uploaded by path downloads byte for byte, and its code is usable in a value."""
    payload = bytes(range(256)) * 3000
    file = tmp_path / "front.png"
    file.write_bytes(payload)
    async with pim.client() as client:
        code = await client.upload_media_file(file)
        async with client.download_media_file(code) as download:
            body = await download.read()
        [result] = await client.upsert_assets("packshots", [asset(1, media=[PimValue(code)])])
    assert payload == body
    assert "/" in code
    assert "created" == result.outcome


async def test_token_expiry_mid_run_is_refreshed_transparently(pim):
    """After /_sim/expire-tokens the next call refreshes the token and succeeds."""
    async with pim.client() as client:
        await client.get_asset_family("packshots")
        expired = await pim.helper.post("/_sim/expire-tokens")
        assert 200 == expired.status_code
        family = await client.get_asset_family("packshots")
    assert "packshots" == family.code
    assert {"password": 1, "refresh_token": 1} == client.auth.grants


async def test_429_storm_respects_max_in_flight(pim):
    """With faults and a tight per-token limit, every request ends well within max_in_flight."""
    options = {
        "fault_rate": 0.3,
        "fault_statuses": [429],
        "max_in_flight_per_token": 2,
        "latency": 0.002,
    }
    response = await pim.helper.put("/_sim/options", json=options)
    assert 200 == response.status_code
    async with pim.client(max_in_flight=2) as client:
        families = await asyncio.gather(*(client.get_asset_family("packshots") for _ in range(30)))
    stats = await pim.stats()
    assert 30 == len(families)
    assert 2 >= stats["max_in_flight_per_token"]
    throttled = sum(
        counts.get("429", 0)
        for key, counts in stats["requests"].items()
        if key.startswith("GET /api/rest/v1/asset-families/")
    )
    assert 0 < throttled


async def test_catalog_and_product_links(pim):
    """Channels, asset-collection attributes and a product NDJSON upsert work end to end."""
    async with pim.client() as client:
        channels = {c.code: c.locales async for c in client.iter_channels()}
        collections = [
            a.code async for a in client.iter_product_attributes() if a.is_asset_collection
        ]
        packshots = await client.get_product_attribute("packshots")
        results = await client.upsert_products(
            [
                {
                    "identifier": "sku_1001",
                    "values": {"packshots": [{"locale": None, "scope": None, "data": []}]},
                },
                {"identifier": "brand_new"},
                {"identifier": "bad", "group": ["x"]},
            ]
        )
    assert ("en_US", "fr_FR") == channels["ecommerce"]
    assert {"packshots", "notices"} <= set(collections)
    assert "packshots" == packshots.reference_data_name
    assert ["updated", "created", "rejected"] == [r.outcome for r in results]
    assert 'Property "group" does not exist.' == results[2].message


async def test_stream_upload_read_back_and_missing_media(pim):
    """A stream-factory upload downloads back; an unknown code is PimNotFound."""

    def factory() -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            yield b"%PDF-1.4 "
            yield b"notice"

        return gen()

    async with pim.client() as client:
        code = await client.upload_media_file(factory, filename="notice.pdf")
        async with client.download_media_file(code) as download:
            body = await download.read()
        with pytest.raises(PimNotFound) as info:
            async with client.download_media_file("no/such_file.png"):
                pass
    assert (b"%PDF-1.4 notice", "application/pdf") == (body, download.mime_type)
    assert "/api/rest/v1/asset-media-files/{code}" == info.value.endpoint


async def test_single_asset_get_patch_delete(pim):
    """One asset is created, read, updated and deleted; a second delete is PimNotFound."""
    title = {"title": [PimValue("Front", locale="en_US")]}
    async with pim.client() as client:
        created = await client.upsert_asset(asset(7, **title))
        updated = await client.upsert_asset(asset(7, **title))
        read = await client.get_asset("packshots", "asset_0007")
        await client.delete_asset("packshots", "asset_0007")
        with pytest.raises(PimNotFound):
            await client.delete_asset("packshots", "asset_0007")
    assert (UpsertStatus.CREATED, UpsertStatus.UPDATED) == (created, updated)
    assert (PimValue("Front", locale="en_US"),) == read.values["title"]
    assert read.updated is not None and read.updated.tzinfo is not None
