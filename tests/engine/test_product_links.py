"""
Direct product links against the PIM simulator: add and replace, ordering, foreign codes kept,
unknown products, a product edited between read and write, withdrawals, a crash in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from daemon.core.errors import PimRejected
from daemon.core.records import PimAsset
from daemon.engine.product_links import ProductLinks
from daemon.engine.structure_cache import StructureCache
from daemon.engine.withdrawals import Withdrawal, WithdrawalOptions, Withdrawer
from daemon.store import FailureRecord
from daemon.store.product_link_store import LINK_STAGE
from tests.engine.product_link_rig import Rig, asset, open_rig

NO_CACHE = cast(StructureCache, None)  # no mark values: the structure is never read
ADD = {"attribute": "model_pictures", "identifier_path": "metadata.skus"}
PRODUCTS = [{"identifier": f"p{i}", "family": "shoes"} for i in range(1, 4)]


@pytest.fixture(name="rig")
async def _rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for rig in open_rig(f"sqlite:///{tmp_path / 's.db'}", [ADD], products=PRODUCTS):
        yield rig


async def rig_with(tmp_path: Path, *links, products=PRODUCTS):
    return open_rig(f"sqlite:///{tmp_path / 'r.db'}", list(links), products=products)


async def test_add_links_each_named_product_once_and_keeps_foreign_codes(rig):
    """Several products per asset; a code damsync did not add stays where it is."""
    await rig.write([asset("a1", skus=["p1", "jacket_001"]), asset("a2", skus="p1")])
    assert ["a1", "a2"] == await rig.collection("p1")
    assert ["jacket_001_front", "a1"] == await rig.collection("jacket_001")
    assert [] == await rig.collection("p2")


async def test_nothing_is_patched_when_no_collection_changes(rig):
    """The same links written again read the products but send no PATCH."""
    await rig.write([asset("a1", skus=["p1", "p2"])])
    await rig.reset()
    await rig.write([asset("a1", skus=["p1", "p2"])])
    stats = await rig.stats()
    assert 0 == stats.get("PATCH /api/rest/v1/products", 0)
    assert 0 == stats.get("GET /api/rest/v1/products", 0)  # already in place: not even read
    assert ["a1"] == await rig.collection("p1")


async def test_a_new_position_reorders_with_one_patch(tmp_path):
    rule = {**ADD, "position_path": "metadata.pos"}
    async for rig in open_rig(f"sqlite:///{tmp_path / 'r.db'}", [rule], products=PRODUCTS):
        await rig.write([asset("a1", skus="p1", pos=1), asset("a2", skus="p1", pos=2)])
        assert ["a1", "a2"] == await rig.collection("p1")
        await rig.reset()
        await rig.write([asset("a2", skus="p1", pos=0)])
        assert ["a2", "a1"] == await rig.collection("p1")
        assert 1 == (await rig.stats())["PATCH /api/rest/v1/products"]


async def test_a_refused_line_fails_the_assets_that_changed_that_product(rig):
    """The PIM refuses p1's line (a code of it was deleted by hand): a2 fails, p2 is written."""
    await rig.write([asset("a1", skus="p1")])
    answer = await rig.sim.delete(
        "/api/rest/v1/asset-families/model_pictures/assets/a1", headers=await rig.auth()
    )
    assert 204 == answer.status_code
    await rig.write([asset("a2", skus=["p1", "p2"])])
    assert ["a2"] == await rig.collection("p2")
    (failure,) = rig.store.list_failures("dam")
    assert failure.dam_id == "a2"
    assert failure.detail.startswith(
        "product identifier 'p1' refused model_pictures for asset 'a2', rule "
        "model_pictures.product_links[0]: 422"
    )
    assert "a1 do not exist" in failure.detail


async def test_add_never_removes_but_replace_moves_the_asset(tmp_path):
    """add: an asset no longer naming a product stays in it; replace: it leaves it."""
    for mode, expected in (("add", ["a1"]), ("replace", [])):
        rule = {**ADD, "mode": mode}
        async for rig in open_rig(
            f"sqlite:///{tmp_path / f'{mode}.db'}", [rule], products=PRODUCTS
        ):
            await rig.edit("p1", "model_pictures", ["jacket_001_front"])
            await rig.write([asset("a1", skus="p1")])
            await rig.write([asset("a1", skus="p2")])
            assert ["jacket_001_front", *expected] == await rig.collection("p1"), mode
            assert ["a1"] == await rig.collection("p2")


async def test_replace_with_no_product_left_takes_the_asset_out(tmp_path):
    """An asset whose metadata names no product any more leaves that rule's products."""
    rule = {**ADD, "mode": "replace"}
    async for rig in open_rig(f"sqlite:///{tmp_path / 'r.db'}", [rule], products=PRODUCTS):
        await rig.write([asset("a1", skus=["p1", "p2"]), asset("a2", skus="p1")])
        await rig.write([asset("a1")])
        assert ["a2"] == await rig.collection("p1")
        assert [] == await rig.collection("p2")
        assert rig.links.store is not None
        assert [] == rig.links.store.owned_by_assets("dam", ["a1"])


async def test_ordering_by_position_first_or_last(tmp_path):
    """A position field orders damsync's codes (main image first); placement puts them first."""
    for placement in ("first", "last"):
        rule = {**ADD, "position_path": "metadata.main", "placement": placement}
        async for rig in open_rig(
            f"sqlite:///{tmp_path / f'{placement}.db'}", [rule], products=PRODUCTS
        ):
            await rig.write([asset("a1", skus="jacket_001", main=False)])
            await rig.write([asset("a2", skus="jacket_001", main=True)])
            await rig.write([asset("a3", skus="jacket_001", main=2)])
            ours = ["a2", "a1", "a3"]  # true=0, false=1, 2
            got = await rig.collection("jacket_001")
            if placement == "first":
                assert [*ours, "jacket_001_front"] == got
            else:
                assert ["jacket_001_front", *ours] == got


async def test_unknown_identifiers_fail_the_asset_with_a_clear_line(rig):
    """An unknown product fails its asset (dead-lettered, one line); its known ones are linked."""
    await rig.write([asset("a1", skus=["p1", "nope"]), asset("a2", skus="p2")])
    assert ["a1"] == await rig.collection("p1")
    assert ["a2"] == await rig.collection("p2")
    (failure,) = rig.store.list_failures("dam")
    assert ("a1", LINK_STAGE, True) == (failure.dam_id, failure.stage, failure.dead_lettered)
    assert failure.detail == (
        "unknown product identifier 'nope' for asset 'a1' (DAM 'a1'), "
        "rule model_pictures.product_links[0]"
    )
    await rig.write([asset("a1", skus=["p1"])])  # fixed in the DAM: the failure is closed
    assert [] == rig.store.list_failures("dam")


async def test_bad_metadata_fails_the_asset_at_staging(rig):
    """An object where identifiers are expected: one line naming asset, rule and field."""
    failures = await rig.write([asset("a1", skus={"x": 1}), asset("a2", skus="p1")])
    assert ["a1"] == [f.dam_id for f in failures]
    assert (
        "asset 'a1': model_pictures.product_links[0]: field 'metadata.skus'" in failures[0].detail
    )
    assert ["a2"] == await rig.collection("p1")


async def test_a_rule_on_the_wrong_attribute_is_refused(tmp_path):
    """The attribute must be an asset collection of the family, with its locale and scope."""
    rules = [
        {"attribute": "name", "identifier_path": "metadata.skus"},
        {"attribute": "gallery", "identifier_path": "metadata.skus"},
        {
            "attribute": "gallery",
            "identifier_path": "metadata.skus",
            "locale": "en_US",
            "scope": "ecommerce",
        },
    ]
    async for rig in open_rig(f"sqlite:///{tmp_path / 'r.db'}", rules, products=PRODUCTS):
        await rig.write([asset("a1", skus="p1")])
        (failure,) = rig.store.list_failures("dam")
        assert (
            "model_pictures.product_links[0]: product attribute 'name' is a pim_catalog_text"
            in failure.detail
        )
        detail = (await rig.sim.get("/api/rest/v1/products/p1", headers=await rig.auth())).json()
        assert [{"locale": "en_US", "scope": "ecommerce", "data": ["a1"]}] == detail["values"][
            "gallery"
        ]


async def test_product_models_are_linked_by_code(tmp_path):
    rule = {**ADD, "kind": "product_model"}
    async for rig in open_rig(f"sqlite:///{tmp_path / 'r.db'}", [rule], products=PRODUCTS):
        await rig.write([asset("a1", skus="rain_jacket")])
        assert ["a1"] == await rig.collection("rain_jacket", model=True)


class EditsAfterRead:
    """The PIM client, but someone edits jacket_001 right after the first product read."""

    def __init__(self, rig: Rig, edits: int) -> None:
        self.rig, self.edits, self.reads = rig, edits, 0

    def __getattr__(self, name):
        return getattr(self.rig.pim, name)

    async def iter_products(self, search, *, kind="product", attributes=None):
        read = [
            p async for p in self.rig.pim.iter_products(search, kind=kind, attributes=attributes)
        ]
        self.reads += 1
        if self.reads <= self.edits:  # the answer is on its way back: someone edits now
            current = await self.rig.collection("jacket_001")
            await self.rig.edit("jacket_001", "model_pictures", [*current, f"x{self.reads}"])
        for item in read:
            yield item

    async def get_product_attribute(self, code):
        return await self.rig.pim.get_product_attribute(code)

    async def upsert_products(self, products):
        return await self.rig.pim.upsert_products(products)

    async def upsert_product_models(self, models):
        return await self.rig.pim.upsert_product_models(models)


@pytest.mark.parametrize("edits", [1, 2])
async def test_a_product_edited_between_read_and_write_is_read_again(rig, edits):
    """The confirm read sees the other writer's code: it is kept, ours added to the new state."""
    await rig.pim.upsert_assets("model_pictures", [_asset("x1"), _asset("x2")])
    editing = EditsAfterRead(rig, edits)
    rig.links.pim = editing
    await rig.write([asset("a1", skus="jacket_001")])
    expected = ["jacket_001_front", *(f"x{i}" for i in range(1, edits + 1)), "a1"]
    assert expected == await rig.collection("jacket_001")
    assert edits + 2 == editing.reads  # first read, a confirm per edit, a last quiet one


def _asset(code: str) -> PimAsset:
    return PimAsset("model_pictures", code, {})


async def test_a_withdrawn_asset_leaves_only_the_collections_damsync_put_it_in(rig):
    """unlink: out of damsync's collections; a code someone else put elsewhere stays there."""
    await rig.write([asset("a1", skus=["p1", "p2"]), asset("a2", skus="p1")])
    await rig.edit("p3", "model_pictures", ["a1"])  # someone else linked a1 by hand
    withdrawer = Withdrawer(
        "dam", rig.pim, rig.store, WithdrawalOptions(policy="unlink", max_share=1.0), NO_CACHE
    )
    withdrawer.links = rig.links
    gone = Withdrawal(asset("a1"), "model_pictures", "a1", "tombstone")
    failures: list[FailureRecord] = []
    done = await withdrawer.apply([gone], [], failures)
    assert [] == failures
    assert ["unlinked"] == [w.action for w in done]
    assert ["a2"] == await rig.collection("p1")
    assert [] == await rig.collection("p2")
    assert ["a1"] == await rig.collection("p3")
    assert rig.links.store is not None
    assert [] == rig.links.store.owned_by_codes("dam", "model_pictures", ["a1"])


async def test_a_deleted_asset_is_unlinked_before_it_is_deleted(rig):
    """delete: the products no longer name it (the PIM would refuse them a dangling code)."""
    await rig.write([asset("a1", skus="p1"), asset("a2", skus="p1")])
    withdrawer = Withdrawer("dam", rig.pim, rig.store, WithdrawalOptions(policy="delete"), NO_CACHE)
    withdrawer.links = rig.links
    await withdrawer.act("model_pictures", "a1", "delete")
    assert ["a2"] == await rig.collection("p1")
    await rig.write([asset("a3", skus="p1")])  # the collection is still writable
    assert ["a2", "a3"] == await rig.collection("p1")


async def test_a_crash_between_the_batch_commit_and_the_link_write_resumes(rig, tmp_path):
    """Links made ready by a commit and never written are written by the next process."""
    await rig.write([asset("a1", skus="p1")], flush=False)
    assert [] == await rig.collection("p1")
    restarted = ProductLinks("dam", rig.pim, rig.store)
    await restarted.flush()
    assert ["a1"] == await rig.collection("p1")
    assert restarted.store is not None
    assert [] == restarted.store.ready_wants("dam", 10)


class RefusesReads(EditsAfterRead):
    """The PIM answers the product search with a 422 (an attribute deleted meanwhile)."""

    async def iter_products(self, search, *, kind="product", attributes=None):
        raise PimRejected("Attribute does not exist", status_code=422)
        yield  # pragma: no cover - an async generator


async def test_a_refused_product_read_fails_the_assets_and_does_not_block_the_next(rig):
    """The wants are settled failed (dead, one line); the next batch links normally."""
    rig.links.pim = RefusesReads(rig, 0)
    await rig.write([asset("a1", skus="p1")])
    (failure,) = rig.store.list_failures("dam")
    assert "refused the product request for asset 'a1'" in failure.detail
    assert "Attribute does not exist" in failure.detail
    rig.links.pim = rig.pim
    await rig.write([asset("a2", skus="p1")])
    assert ["a2"] == await rig.collection("p1")


class DeletesAfterRead(EditsAfterRead):
    """Someone deletes p1 right after the first product read (straight in the PIM's state)."""

    async def iter_products(self, search, *, kind="product", attributes=None):
        read = [
            p async for p in self.rig.pim.iter_products(search, kind=kind, attributes=attributes)
        ]
        self.reads += 1
        if self.reads == 1:
            products = self.rig.app.state.pim.products
            (uuid,) = [k for k, p in products.items() if p.key == "p1"]
            del products[uuid]
        for item in read:
            yield item


async def test_a_product_deleted_before_the_confirm_read_is_not_created_again(rig):
    rig.links.pim = DeletesAfterRead(rig, 0)
    await rig.write([asset("a1", skus=["p1", "p2"])])
    assert ["a1"] == await rig.collection("p2")
    assert (
        404 == (await rig.sim.get("/api/rest/v1/products/p1", headers=await rig.auth())).status_code
    )
    (failure,) = rig.store.list_failures("dam")
    assert "unknown product identifier 'p1'" in failure.detail
