"""The product link settle is fenced by the lease epoch, like the batch commit (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.store import AssetWrite, FailureRecord, LeaseLostError
from daemon.store.product_link_store import (
    LinkTarget,
    LinkWant,
    OwnedLink,
    ProductLinkStore,
    WantedLink,
)

T0 = datetime(2025, 1, 1, 8, 30, tzinfo=UTC)
SHOE = LinkTarget("product", "shoe_1", "pictures")


def _ready(store, links, lease) -> None:
    links.stage(
        "dam", ["a"], [LinkWant("a", 7, "pics", "code_a", "add", "last", (WantedLink(SHOE),))]
    )
    written = [AssetWrite("a", "pics", "code_a", "h", dam_updated_at=T0)]
    store.commit_batch(lease, None, cursor=None, written=written)


def test_a_stale_owner_cannot_settle_links_and_nothing_is_recorded(store):
    """worker-1 paused, worker-2 took the source over: worker-1's settle is refused whole."""
    links = ProductLinkStore.for_store(store)
    old = store.acquire_lease("dam", "worker-1", 60)
    _ready(store, links, old)
    assert store.release_lease(old)
    new = store.acquire_lease("dam", "worker-2", 60)
    assert new is not None and new.epoch > old.epoch
    link = OwnedLink(SHOE, "code_a", 7, "pics", "a")
    failure = FailureRecord(dam_id="b", stage="links", error_type="E", detail="x", permanent=True)
    with pytest.raises(LeaseLostError):
        links.settle("dam", done=[("a", 7)], added=[link], failed=[failure], run_id=None, lease=old)
    assert [] == links.owned_by_assets("dam", ["a"])  # rolled back: no row of the stale owner
    assert [7] == [w.rule for w in links.ready_wants("dam", 10)]  # still ready for worker-2
    assert [] == store.list_failures("dam")
    links.settle("dam", done=[("a", 7)], added=[link], lease=new)  # the owner's settle goes on
    assert [link] == links.owned_by_assets("dam", ["a"])
    assert [] == links.ready_wants("dam", 10)


def test_a_settle_under_a_rewound_lease_is_refused(store):
    """An operator rewind fences every lease: the link write of the old epoch is refused."""
    links = ProductLinkStore.for_store(store)
    lease = store.acquire_lease("dam", "worker-1", 60)
    store.rewind("dam", None)
    with pytest.raises(LeaseLostError):
        links.settle("dam", removed=[OwnedLink(SHOE, "code_a", 7, "pics", "a")], lease=lease)
