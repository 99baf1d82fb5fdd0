"""
``python -m bench.product_links``: 1,000 products linked by direct product link rules.

In-process: the PIM simulator (ASGI), the real client, a fresh SQLite state store and the
engine's link path as a batch runs it: 1,000 assets written in batches of 100 (the engine's
bulk limit), each asset naming one product; per batch the links are staged, made ready by the
batch commit and written by the link writer. The simulator's request log gives the figures:
product PATCHes (target: at most ceil(1,000 / 100) = 10) and product reads (first reads plus
confirm reads, 100 identifiers each). A second round with nothing changed must cost nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from daemon.core.records import DamAsset, PimAsset, PimValue
from daemon.engine.product_links import ProductLinks
from daemon.mapping import AssetKey, Mapper, load_mapping
from daemon.pim import PasswordAuth, PimClient
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import AssetWrite, Store

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100
T0 = datetime(2026, 12, 1, tzinfo=UTC)
PATCH = "PATCH /api/rest/v1/products"
READ = "GET /api/rest/v1/products"


def _seed(products: int) -> dict[str, Any]:
    data = load_seed(ROOT / "config" / "sim" / "pim-links-seed.json")
    family = data["asset_families"][0]
    family.pop("naming_convention")  # direct mode: the PIM's own rules stay out of the way
    family.pop("product_link_rules")
    data["products"] = [{"identifier": f"P{i:05d}", "family": "shoes"} for i in range(products)]
    return data


def _counts(stats: dict[str, Any]) -> dict[str, int]:
    return {key: sum(v.values()) for key, v in stats["requests"].items()}


async def run(products: int, position: bool) -> dict[str, Any]:
    app = create_pim_app(_seed(products))
    auth = PasswordAuth(
        client_id="demo_client", secret="demo_secret", username="demo", password="demo"
    )
    sim = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pim")
    rule: dict[str, Any] = {"attribute": "model_pictures", "identifier_path": "metadata.sku"}
    if position:
        rule["position_path"] = "metadata.main"
    rules = load_mapping(
        {"families": [{"family": "model_pictures", "code": "{id}", "product_links": [rule]}]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{tmp}/state.db")
        store.upgrade()
        lease = store.acquire_lease("bench", "bench", 3600)
        assert lease is not None
        async with PimClient("http://pim", auth=auth, transport=httpx.ASGITransport(app)) as pim:
            family = await pim.get_family_structure("model_pictures")
            mapper = Mapper(rules, {"model_pictures": family}, [])
            links = ProductLinks("bench", pim, store)
            assets = [
                DamAsset(f"a{i:05d}", T0, metadata={"sku": f"P{i:05d}", "main": i % 2 == 0})
                for i in range(products)
            ]
            # The assets exist in the PIM first, as after the engine's asset PATCHes.
            await pim.upsert_assets(
                "model_pictures",
                [
                    PimAsset("model_pictures", a.id, {"product_ref": [PimValue("x")]})
                    for a in assets
                ],
            )
            await sim.post("/_sim/reset-stats")
            started = time.perf_counter()
            await _batches(mapper, links, store, lease, assets)
            elapsed = time.perf_counter() - started
            first = _counts((await sim.get("/_sim/stats")).json())
            await sim.post("/_sim/reset-stats")
            await _batches(mapper, links, store, lease, assets)
            again = _counts((await sim.get("/_sim/stats")).json())
        linked = sum(
            1
            for product in app.state.pim.products.values()
            if product.body["values"].get("model_pictures")
        )
        store.dispose()
    await sim.aclose()
    return {
        "products": products,
        "linked": linked,
        "patches": first.get(PATCH, 0),
        "patch_limit": math.ceil(products / 100),
        "product_reads": first.get(READ, 0),
        "attribute_reads": sum(
            v for k, v in first.items() if k.startswith("GET /api/rest/v1/attributes")
        ),
        "seconds": round(elapsed, 3),
        "again_requests": sum(v for k, v in again.items() if "/_sim" not in k),
    }


async def _batches(
    mapper: Mapper, links: ProductLinks, store: Store, lease: Any, assets: list[DamAsset]
) -> None:
    for start in range(0, len(assets), BATCH):
        batch = assets[start : start + BATCH]
        written = []
        for asset in batch:
            key = mapper.identify(asset)
            assert isinstance(key, AssetKey)
            written.append(
                AssetWrite(asset.id, key.family, key.code, "h", dam_updated_at=asset.updated_at)
            )
        failures = await links.stage(mapper, written, batch)
        assert not failures, failures
        store.commit_batch(lease, None, cursor=None, written=written)
        await links.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--position", action="store_true", help="order by a DAM field too")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    result = asyncio.run(run(args.products, args.position))
    print(json.dumps(result, indent=2))
    ok = result["patches"] <= result["patch_limit"] and result["linked"] == result["products"]
    print(
        f"{result['products']} products linked: {result['patches']} product PATCHes "
        f"(limit {result['patch_limit']}), {result['product_reads']} product reads, "
        f"{result['attribute_reads']} attribute read(s), {result['seconds']} s; "
        f"unchanged again: {result['again_requests']} requests -> {'OK' if ok else 'MISSED'}"
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
