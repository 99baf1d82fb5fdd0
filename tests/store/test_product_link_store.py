"""The product link tables: staged wants turn ready in the batch commit, settle, owned rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.store import AssetWrite, FailureRecord
from daemon.store.product_link_store import (
    LINK_STAGE,
    LinkTarget,
    LinkWant,
    OwnedLink,
    ProductLinkStore,
    WantedLink,
)

T0 = datetime(2025, 1, 1, 8, 30, tzinfo=UTC)
SHOE = LinkTarget("product", "shoe_1", "pictures")
BOOT = LinkTarget("product_model", "boot", "pictures", "en_US", "ecommerce")


@pytest.fixture(name="links")
def _links(store):
    return ProductLinkStore.for_store(store)


@pytest.fixture(name="lease")
def _lease(store):
    return store.acquire_lease("dam", "worker-1", 60)


def want(dam_id: str, *targets: LinkTarget, rule: int = 0, mode: str = "add") -> LinkWant:
    links = tuple(WantedLink(t, float(i)) for i, t in enumerate(targets))
    return LinkWant(dam_id, rule, "pics", f"code_{dam_id}", mode, "first", links)


def written(*ids: str) -> list[AssetWrite]:
    return [AssetWrite(i, "pics", f"code_{i}", "h", dam_updated_at=T0) for i in ids]


def test_staged_wants_become_ready_only_in_the_commit_of_their_written_assets(store, links, lease):
    """Staged rows are invisible to the writer; the commit readies those of written assets."""
    links.stage("dam", ["a", "b"], [want("a", SHOE, BOOT), want("b", SHOE)])
    assert [] == links.ready_wants("dam", 10)
    store.commit_batch(lease, None, cursor=None, written=written("a"))  # b failed its write
    ready = links.ready_wants("dam", 10)
    assert [want("a", SHOE, BOOT)] == ready
    assert (None, "ecommerce") == (ready[0].links[0].target.scope, ready[0].links[1].target.scope)
    assert "en_US" == ready[0].links[1].target.locale


def test_a_newer_staged_want_supersedes_the_ready_one(store, links, lease):
    """A second write of the asset replaces its unwritten ready want, ready at its commit."""
    links.stage("dam", ["a"], [want("a", SHOE)])
    store.commit_batch(lease, None, cursor=None, written=written("a"))
    links.stage("dam", ["a"], [want("a", BOOT)])
    assert [] == links.ready_wants("dam", 10)
    store.commit_batch(lease, None, cursor=None, written=written("a"))
    assert [want("a", BOOT)] == links.ready_wants("dam", 10)


def test_unchanged_assets_of_a_batch_get_their_staged_wants_ready_too(store, links, lease):
    links.stage("dam", ["a"], [want("a", SHOE)])
    store.commit_batch(lease, None, cursor=None, resolved=["a"])
    assert [want("a", SHOE)] == links.ready_wants("dam", 10)


def test_settle_records_owned_rows_deletes_wants_and_records_failures(store, links, lease):
    """One transaction: wants gone, rows added and removed, a failure per asset (dead)."""
    links.stage("dam", ["a", "b"], [want("a", SHOE), want("b", SHOE)])
    store.commit_batch(lease, None, cursor=None, written=written("a", "b"))
    owned_a = OwnedLink(SHOE, "code_a", 0, "pics", "a", 1.0)
    owned_b = OwnedLink(BOOT, "code_b", 0, "pics", "b", None)
    links.settle(
        "dam",
        done=[("a", 0), ("b", 0)],
        added=[owned_a, owned_b],
        failed=[FailureRecord("b", LINK_STAGE, "ProductLinkError", "unknown", permanent=True)],
        succeeded=["a", "b"],
    )
    assert [] == links.ready_wants("dam", 10)
    assert [owned_a] == links.owned_by_assets("dam", ["a"])
    assert {owned_a, owned_b} == set(
        links.owned_in("dam", [("product", "shoe_1"), BOOT.product_key])
    )
    assert [owned_b] == links.owned_by_codes("dam", "pics", ["code_b", "nope"])
    (failure,) = store.list_failures("dam")
    assert ("b", LINK_STAGE, True) == (failure.dam_id, failure.stage, failure.dead_lettered)
    links.settle("dam", removed=[owned_a], succeeded=["b"])
    assert [] == links.owned_by_assets("dam", ["a"])
    assert [] == store.list_failures("dam")  # b's links went through: its failure is closed


def test_an_unchanged_asset_keeps_its_dead_link_failure_but_a_written_one_clears_it(
    store, links, lease
):
    """The batch commit settles an unchanged asset's failures, but not a dead link failure."""
    failure = FailureRecord("a", LINK_STAGE, "ProductLinkError", "unknown", permanent=True)
    links.settle("dam", failed=[failure])
    links.settle("dam", failed=[FailureRecord("b", "pim", "PimRejected", "x")])
    store.commit_batch(lease, None, cursor=None, resolved=["a", "b"])
    assert ["a"] == [f.dam_id for f in store.list_failures("dam")]
    assert 1 == len(store.failure_trail("dam", "a"))
    store.commit_batch(lease, None, cursor=None, written=written("a"))
    assert [] == store.list_failures("dam")


def test_rows_are_per_source(store, links, lease):
    """Another source's wants and rows are never read."""
    links.stage("other", ["a"], [want("a", SHOE)])
    other = store.acquire_lease("other", "worker-1", 60)
    store.commit_batch(other, None, cursor=None, written=written("a"))
    links.settle("other", added=[OwnedLink(SHOE, "code_a", 0, "pics", "a")])
    assert [] == links.ready_wants("dam", 10)
    assert [] == links.owned_in("dam", [SHOE.product_key])
    assert 1 == len(links.ready_wants("other", 10))
    del lease


def test_activate_wants_readies_staged_rows_of_the_listed_ids_only(store, links):
    """Across ``IN`` chunks; other ids, other sources and an empty list change nothing."""
    from daemon.store.link_activation import activate_wants
    from daemon.store.statements import CHUNK

    ids = [f"a{i:04d}" for i in range(CHUNK + 3)]
    links.stage("dam", [*ids, "left"], [*(want(i, SHOE) for i in ids), want("left", SHOE)])
    links.stage("other", ["a0000"], [want("a0000", BOOT)])
    with store.engine.begin() as session:
        activate_wants(session, "dam", [])
    assert [] == links.ready_wants("dam", 10)
    with store.engine.begin() as session:
        activate_wants(session, "dam", [*reversed(ids), ids[0]])
    assert sorted(ids) == sorted(w.dam_id for w in links.ready_wants("dam", 10 * CHUNK))
    assert [] == links.ready_wants("other", 10)
