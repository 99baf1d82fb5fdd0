"""
A rig for the direct product link tests: the PIM simulator in-process (the links seed), a real
client, a real store (SQLite; PostgreSQL with ``url``), and a batch path in miniature: assets
upserted, their links staged, the batch committed, the links flushed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from daemon.core.records import DamAsset, PimAsset, PimValue
from daemon.engine.product_links import ProductLinks
from daemon.mapping import AssetKey, Mapper, load_mapping
from daemon.pim import PasswordAuth, PimClient
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import AssetWrite, Lease, Store

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NDJSON = "application/vnd.akeneo.collection+json"


def seed(products: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The links seed without its PIM-side rules, plus a localizable and scopable collection."""
    data = load_seed(ROOT / "config" / "sim" / "pim-links-seed.json")
    data["product_attributes"].append(
        {
            "code": "gallery",
            "type": "pim_catalog_asset_collection",
            "reference_data_name": "model_pictures",
            "localizable": True,
            "scopable": True,
        }
    )
    data["products"] += list(products)
    # Direct mode only: the PIM's own naming convention and link rules stay out of the way.
    family = data["asset_families"][0]
    family.pop("naming_convention")
    family.pop("product_link_rules")
    return data


def mapping(*links: dict[str, Any]) -> dict[str, Any]:
    """A ``[sources.mapping]`` table: the model_pictures family with these product links."""
    return {
        "families": [
            {
                "family": "model_pictures",
                "code": "{id}",
                "attributes": {"product_ref": {"path": "metadata.ref"}},
                "product_links": list(links),
            }
        ]
    }


@dataclass
class Rig:
    """The PIM, its client, the store and the links of source ``dam``."""

    app: Any
    pim: PimClient
    store: Store
    lease: Lease
    mapper: Mapper
    links: ProductLinks
    sim: httpx.AsyncClient
    committed: list[str] = field(default_factory=list)

    async def write(self, assets: Sequence[DamAsset], *, flush: bool = True) -> list[Any]:
        """One batch: upsert, stage, commit (with the staging failures), flush."""
        keys = [self.mapper.identify(a) for a in assets]
        assert all(isinstance(k, AssetKey) for k in keys)
        pim_assets = [
            PimAsset(k.family, k.code, {"product_ref": [PimValue("x")]})
            for k in keys
            if isinstance(k, AssetKey)
        ]
        results = await self.pim.upsert_assets("model_pictures", pim_assets)
        assert all(r.ok for r in results), results
        written = [
            AssetWrite(a.id, p.family, p.code, "h", dam_updated_at=a.updated_at)
            for a, p in zip(assets, pim_assets, strict=True)
        ]
        failures = await self.links.stage(self.mapper, written, assets)
        self.store.commit_batch(self.lease, None, cursor=None, written=written, failures=failures)
        if flush:
            await self.links.flush()
        return failures

    async def collection(
        self, identifier: str, attribute: str = "model_pictures", *, model: bool = False
    ) -> list[str]:
        path = "product-models" if model else "products"
        body = (
            await self.sim.get(f"/api/rest/v1/{path}/{identifier}", headers=await self.auth())
        ).json()
        for value in body.get("values", {}).get(attribute, []):
            return list(value["data"])
        return []

    async def auth(self) -> dict[str, str]:
        answer = await self.sim.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        )
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    async def edit(self, identifier: str, attribute: str, data: list[str]) -> None:
        """Someone else writes a collection (a whole-array replace, as the PIM does)."""
        line = {
            "identifier": identifier,
            "values": {attribute: [{"locale": None, "scope": None, "data": data}]},
        }
        answer = await self.sim.patch(
            "/api/rest/v1/products",
            content=json.dumps(line),
            headers={**await self.auth(), "Content-Type": NDJSON},
        )
        assert '"status_code":204' in answer.text, answer.text

    async def stats(self) -> dict[str, int]:
        requests = (await self.sim.get("/_sim/stats")).json()["requests"]
        return {key: sum(counts.values()) for key, counts in requests.items()}

    async def reset(self) -> None:
        await self.sim.post("/_sim/reset-stats")


def asset(dam_id: str, **metadata: Any) -> DamAsset:
    return DamAsset(dam_id, T0, metadata=metadata)


async def open_rig(
    url: str, links: Sequence[dict[str, Any]], *, products: Sequence[dict[str, Any]] = ()
) -> AsyncIterator[Rig]:
    """Yield a rig on the store at ``url`` (migrated here)."""
    app = create_pim_app(seed(products))
    auth = PasswordAuth(
        client_id="demo_client", secret="demo_secret", username="demo", password="demo"
    )
    pim = PimClient("http://pim", auth=auth, transport=httpx.ASGITransport(app))
    store = Store.from_url(url)
    store.upgrade()
    lease = store.acquire_lease("dam", "worker-1", 600)
    assert lease is not None
    family = await pim.get_family_structure("model_pictures")
    mapper = Mapper(load_mapping(mapping(*links)), {"model_pictures": family}, [])
    sim = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pim")
    try:
        yield Rig(app, pim, store, lease, mapper, ProductLinks("dam", pim, store), sim)
    finally:
        await sim.aclose()
        await pim.aclose()
        store.dispose()
