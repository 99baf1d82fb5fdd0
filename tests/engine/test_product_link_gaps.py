"""
Direct product links, the gaps of issue 17 closed: link writes fenced by the lease, rules kept by
a stable key (reordering them keeps ``replace`` working), the link metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from daemon.engine.product_link_targets import KEY_BASE, compile_link_rules, rule_key
from daemon.mapping import Mapper, load_mapping
from daemon.mapping.product_link_rules import ProductLinkRule
from daemon.store import LeaseLostError
from daemon.store.product_link_store import OwnedLink, ProductLinkStore
from daemon.telemetry.metrics import make_metrics
from tests.engine.product_link_rig import Rig, asset, mapping, open_rig

REPLACE = {"attribute": "model_pictures", "identifier_path": "metadata.skus", "mode": "replace"}
GALLERY = {
    "attribute": "gallery",
    "identifier_path": "metadata.skus",
    "locale": "en_US",
    "scope": "ecommerce",
}
PRODUCTS = [{"identifier": f"p{i}", "family": "shoes"} for i in range(1, 4)]


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'links.db'}"


async def _reorder(rig: Rig, *links: dict[str, Any]) -> None:
    """The same rules in another order, as after a config reload."""
    family = await rig.pim.get_family_structure("model_pictures")
    rig.mapper = Mapper(load_mapping(mapping(*links)), {"model_pictures": family}, [])


async def test_reordered_rules_keep_track_of_replace_links(tmp_path):
    """The replace rule moves from [0] to [1]: a product the asset no longer names is left."""
    async for rig in open_rig(_url(tmp_path), [REPLACE, GALLERY], products=PRODUCTS):
        await rig.write([asset("a1", skus=["p1", "p2"])])
        assert ["a1"] == await rig.collection("p1")
        await _reorder(rig, GALLERY, REPLACE)
        await rig.write([asset("a1", skus=["p2"])])
        assert [] == await rig.collection("p1")
        assert ["a1"] == await rig.collection("p2")
        assert ["a1"] == await rig.collection("p1", "gallery")  # add: never taken out
        assert [] == rig.store.list_failures("dam")


async def test_rows_stored_by_index_are_taken_over_by_position(tmp_path):
    """Rows written before rule keys (rule = index) still let replace remove, then are rekeyed."""
    async for rig in open_rig(_url(tmp_path), [REPLACE], products=PRODUCTS):
        await rig.write([asset("a1", skus=["p1", "p2"])])
        links = ProductLinkStore.for_store(rig.store)
        rows = links.owned_by_assets("dam", ["a1"])
        legacy = [OwnedLink(r.target, r.asset_code, 0, r.family, r.dam_id) for r in rows]
        links.settle("dam", added=legacy, removed=rows)  # as migration 0009 wrote them
        assert {0} == {r.rule for r in links.owned_by_assets("dam", ["a1"])}
        rig.links = type(rig.links)("dam", rig.pim, rig.store)  # a new process
        await rig.write([asset("a1", skus=["p2", "p3"])])
        assert [] == await rig.collection("p1")
        assert ["a1"] == await rig.collection("p3")
        after = links.owned_by_assets("dam", ["a1"])
        assert ["p2", "p3"] == sorted(r.target.product for r in after)
        assert all(r.rule >= KEY_BASE for r in after)  # the index rows were replaced


def test_rule_keys_are_stable_fit_an_integer_and_tell_duplicates_apart():
    a, b = ProductLinkRule(**REPLACE), ProductLinkRule(**GALLERY)
    assert rule_key(a) == rule_key(ProductLinkRule(**{**REPLACE, "mode": "add"}))
    assert KEY_BASE <= rule_key(a) < 2**31 and KEY_BASE <= rule_key(b) < 2**31
    one = {c.rule.attribute: c.key for c in compile_link_rules([a, b])}
    two = {c.rule.attribute: c.key for c in compile_link_rules([b, a])}
    assert one == two
    twins = compile_link_rules(
        [a, ProductLinkRule(**{**REPLACE, "identifier_path": "metadata.other"})]
    )
    assert len({c.key for c in twins}) == 2
    assert [0, 1] == [c.index for c in twins]


async def test_a_stale_owner_cannot_record_its_link_write(tmp_path):
    """Taken over between the batch commit and the link write: refused before any PATCH."""
    async for rig in open_rig(_url(tmp_path), [REPLACE], products=PRODUCTS):
        await rig.write([asset("a1", skus="p1")], flush=False)
        assert rig.store.release_lease(rig.lease)
        new = rig.store.acquire_lease("dam", "worker-2", 600)
        assert new is not None
        with pytest.raises(LeaseLostError):
            await rig.links.flush(lease=rig.lease)
        links = ProductLinkStore.for_store(rig.store)
        assert [] == links.owned_by_assets("dam", ["a1"])
        assert [] == await rig.collection("p1")  # the stale owner wrote no product
        assert ["a1"] == [w.dam_id for w in links.ready_wants("dam", 10)]
        await rig.links.flush(lease=new)  # the new owner resumes them
        assert ["p1"] == [r.target.product for r in links.owned_by_assets("dam", ["a1"])]
        assert [] == links.ready_wants("dam", 10)


async def test_a_stale_owner_cannot_record_an_unlink(tmp_path):
    async for rig in open_rig(_url(tmp_path), [REPLACE], products=PRODUCTS):
        await rig.write([asset("a1", skus="p1")])
        assert rig.store.release_lease(rig.lease)
        assert rig.store.acquire_lease("dam", "worker-2", 600) is not None
        with pytest.raises(LeaseLostError):
            await rig.links.unlink("model_pictures", ["a1"], lease=rig.lease)
        links = ProductLinkStore.for_store(rig.store)
        assert ["p1"] == [r.target.product for r in links.owned_by_assets("dam", ["a1"])]
        assert ["a1"] == await rig.collection("p1")


def _sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name, {"source": "dam"})


async def test_link_metrics_count_patched_products_and_failed_assets(tmp_path):
    registry = CollectorRegistry()
    metrics = make_metrics(registry)
    async for rig in open_rig(_url(tmp_path), [REPLACE], products=PRODUCTS):
        rig.links.observer = metrics
        await rig.write([asset("a1", skus=["p1", "p2"]), asset("a2", skus="nope")])
        assert 2 == _sample(registry, "damsync_product_links_written_total")
        assert 1 == _sample(registry, "damsync_product_link_failures_total")
        await rig.links.unlink("model_pictures", ["a1"])
        assert 4 == _sample(registry, "damsync_product_links_written_total")
