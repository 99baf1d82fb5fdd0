"""The store's side of replicas: lease renewal by compare-and-set, replica heartbeats."""

from __future__ import annotations

from daemon.store import AssetWrite, LeaseLostError
from daemon.store.rows import ReplicaView

from .conftest import expire_lease, expire_replica


def test_renewal_keeps_the_epoch_and_moves_the_expiry(store):
    """A renewal extends the lease on the database clock and never changes its epoch."""
    lease = store.acquire_lease("dam", "a", 30)
    renewed = store.renew_lease(lease, 3600)
    assert (lease.source, lease.holder, lease.epoch) == (
        renewed.source,
        renewed.holder,
        renewed.epoch,
    )
    assert renewed.expires_at > lease.expires_at


def test_an_expired_lease_nobody_took_is_renewed_with_its_epoch(store):
    """Nobody wrote meanwhile (same epoch): the late renewal is safe and keeps the lease."""
    lease = store.acquire_lease("dam", "a", 30)
    expire_lease(store, "dam")
    assert lease.epoch == store.renew_lease(lease, 30).epoch
    assert None is store.acquire_lease("dam", "b", 30)


def test_a_lease_taken_over_is_never_renewed_back(store):
    """After a takeover the old holder's renewal fails and the new holder keeps the lease."""
    old = store.acquire_lease("dam", "a", 30)
    expire_lease(store, "dam")
    new = store.acquire_lease("dam", "b", 30)
    assert None is store.renew_lease(old, 30)
    assert "b" == store.lease_holder("dam")
    assert new.epoch == store.load_checkpoint("dam").epoch


def test_a_released_or_rewound_lease_is_never_renewed_back(store):
    """Released (epoch bumped, no holder) or fenced by a rewind: the renewal says lost."""
    released = store.acquire_lease("dam", "a", 30)
    store.release_lease(released)
    assert None is store.renew_lease(released, 30)
    rewound = store.acquire_lease("dam", "a", 30)
    store.rewind("dam", None)
    assert None is store.renew_lease(rewound, 30)
    assert None is store.lease_holder("dam")


def test_the_stale_holder_writes_nothing_after_a_takeover(store):
    """The fence: a batch of the old holder is refused whole, the new holder's goes in."""
    old = store.acquire_lease("dam", "a", 30)
    expire_lease(store, "dam")
    new = store.acquire_lease("dam", "b", 30)
    write = AssetWrite("x1", "packshots", "x1", "h1", None, None, None)
    try:
        store.commit_batch(old, None, cursor=None, written=[write])
    except LeaseLostError as exc:
        assert "lease epoch" in str(exc)
    else:
        raise AssertionError("the stale holder's batch was committed")
    assert {} == store.asset_states("dam", ["x1"])
    store.commit_batch(new, None, cursor=None, written=[write])
    assert {"x1"} == set(store.asset_states("dam", ["x1"]))


def test_a_heartbeat_counts_live_replicas_and_their_valid_leases(store):
    """Each live replica with the valid leases it holds on the sources asked about."""
    assert ReplicaView({"r1": 0}, frozenset()) == store.replica_heartbeat("r1", 30, ["a", "b"])
    store.acquire_lease("a", "r1", 30)
    store.acquire_lease("b", "r2", 30)
    store.acquire_lease("elsewhere", "r2", 30)  # not a source of ours: not counted
    view = store.replica_heartbeat("r2", 30, ["a", "b"])
    assert {"r1": 1, "r2": 1} == view.live
    assert frozenset({"a", "b"}) == view.taken
    expire_lease(store, "b")
    view = store.replica_heartbeat("r1", 30, ["a", "b"])
    assert ({"r1": 1, "r2": 0}, frozenset({"a"})) == (view.live, view.taken)


def test_an_expired_replica_is_forgotten_by_the_next_heartbeat(store):
    """A replica that stopped beating is no longer live, and its row goes."""
    store.replica_heartbeat("r1", 30, ["a"])
    store.replica_heartbeat("r2", 30, ["a"])
    assert ["r2"] == store.other_replicas("r1")
    expire_replica(store, "r2")
    assert [] == store.other_replicas("r1")
    assert {"r1"} == set(store.replica_heartbeat("r1", 30, ["a"]).live)
    assert False is store.forget_replica("r2")  # already deleted by that heartbeat
    assert True is store.forget_replica("r1")
