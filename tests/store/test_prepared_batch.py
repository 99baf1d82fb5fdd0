"""
The store's side of one batch in as few transactions and statements as the work allows.

Before the PIM write, :meth:`Store.prepare_batch` claims the batch's keys and notes its new
assets (intents) in ONE transaction; after it, :meth:`Store.commit_batch` records everything in
ONE transaction. Each runs a fixed number of statements, whatever the batch size (executemany
and expanding ``IN`` lists, never a statement per row).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, select

from daemon.store import AssetWrite, FailureRecord
from daemon.store.tables import asset_states, pending_deletions, pim_owners


@pytest.fixture(name="lease")
def _lease(store):
    return store.acquire_lease("dam", "worker-1", 60)


@pytest.fixture(name="run")
def _run(store):
    return store.start_run("dam")


@dataclass
class Counts:
    transactions: int = 0
    statements: list[str] = field(default_factory=list)


@contextmanager
def counting(store) -> Iterator[Counts]:
    """Transactions begun and statements sent (BEGIN/COMMIT not included) on the store."""
    counts = Counts()

    def begin(_conn):
        counts.transactions += 1

    def execute(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            counts.statements.append(statement)

    event.listen(store.engine, "begin", begin)
    event.listen(store.engine, "before_cursor_execute", execute)
    try:
        yield counts
    finally:
        event.remove(store.engine, "begin", begin)
        event.remove(store.engine, "before_cursor_execute", execute)


def owners(store) -> dict[tuple[str, str], tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(pim_owners.c.family, pim_owners.c.code, pim_owners.c.source, pim_owners.c.dam_id)
        )
        return {(r.family, r.code): (r.source, r.dam_id) for r in rows}


def test_claims_and_intents_share_one_transaction(store):
    """Keys claimed and new assets noted at once; a key another source owns is refused, and
    its asset gets no intent (it will not be written)."""
    assert {} == store.claim_keys("other", [("o1", "fam", "taken")])
    with counting(store) as counts:
        refused = store.prepare_batch(
            "dam",
            claims=[("d1", "fam", "c1"), ("d2", "fam", "taken"), ("d3", "fam", "c3")],
            intents=[("d1", "fam", "c1"), ("d2", "fam", "taken")],
        )
    assert {("fam", "taken"): "other"} == refused
    assert 1 == counts.transactions
    assert {
        ("fam", "c1"): ("dam", "d1"),
        ("fam", "c3"): ("dam", "d3"),
        ("fam", "taken"): ("other", "o1"),
    } == owners(store)
    states = store.asset_states("dam", ["d1", "d2", "d3"])
    assert {"d1"} == set(states)  # d3 is a known asset (no intent asked), d2 was refused
    assert ("fam", "c1", "", False) == (
        states["d1"].family,
        states["d1"].code,
        states["d1"].content_hash,
        states["d1"].deleted,
    )


def test_prepared_batch_keeps_the_intent_rules(store, lease, run):
    """Same rules as record_intents: a known asset is left alone, a deleted one revived with
    its managed values unknown; a held deletion of a reclaimed key is dropped."""
    store.commit_batch(
        lease,
        run,
        cursor=None,
        written=[
            AssetWrite(
                "known", "fam", "known", "h1", managed_values=frozenset({("a", None, None)})
            ),
            AssetWrite("gone", "fam", "gone", "h2", managed_values=frozenset({("a", None, None)})),
        ],
        deleted=["gone"],
    )
    with store.engine.begin() as conn:
        conn.execute(
            pending_deletions.insert().values(
                source="dam",
                pim="default",
                family="fam",
                code="gone",
                dam_id="gone",
                reason="tombstone",
                policy="delete",
                requested_at=store._clock(),
            )
        )
    refused = store.prepare_batch(
        "dam",
        claims=[("known", "fam", "known"), ("gone", "fam", "gone")],
        intents=[("known", "x", "y"), ("gone", "fam", "gone")],
    )
    assert {} == refused
    states = store.asset_states("dam", ["known", "gone"])
    assert ("fam", "known", "h1") == (
        states["known"].family,
        states["known"].code,
        states["known"].content_hash,
    )
    assert ("", False, None) == (
        states["gone"].content_hash,
        states["gone"].deleted,
        states["gone"].managed_values,
    )
    assert [] == store.pending_deletions("dam")


def test_a_failed_preparation_claims_nothing(store, monkeypatch):
    """Claims and intents commit together or not at all."""
    from daemon.store import batch_prepare

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(batch_prepare, "record_intents", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.prepare_batch("dam", claims=[("d1", "fam", "c1")], intents=[("d1", "fam", "c1")])
    assert {} == owners(store)
    assert {} == store.asset_states("dam", ["d1"])


def test_nothing_to_prepare_opens_no_transaction(store):
    with counting(store) as counts:
        assert {} == store.prepare_batch("dam", claims=[], intents=[])
    assert 0 == counts.transactions


@pytest.mark.parametrize("size", [3, 250])
def test_statements_do_not_grow_with_the_batch(store, lease, run, size):
    """Preparing and committing a batch: a fixed number of statements for 3 or 250 assets."""
    ids = [f"d{i:04d}" for i in range(size)]
    keys = [(d, "fam", d) for d in ids]
    with counting(store) as prepared:
        store.prepare_batch("dam", claims=keys, intents=keys)
    with counting(store) as committed:
        store.commit_batch(
            lease,
            run,
            cursor=None,
            written=[
                AssetWrite(d, "fam", d, "h", binary_checksum=f"sha256:{d}", media_code=f"m/{d}")
                for d in ids[1:]
            ],
            failures=[FailureRecord(ids[0], "pim", "PimRejected", "no")],
        )
    with counting(store) as read:
        assert size == len(store.asset_states("dam", ids))
    assert (1, 1) == (prepared.transactions, committed.transactions)
    # Claim, read back the refused keys, drop held deletions, note intents.
    assert 4 == len(prepared.statements), prepared.statements
    # Fence, resolve failures and their trails, media codes, the failure (read, upsert) and
    # its trail (read, insert), asset states, the batch's staged product links made ready.
    assert 10 == len(committed.statements), committed.statements
    assert 1 == len(read.statements)


def test_media_codes_are_remembered_and_found(store):
    """One upload remembered at once (one short transaction), found by its checksum."""
    with counting(store) as counts:
        store.record_media("dam", {"sha256:ab": "m/1"})
    assert (1, 1) == (counts.transactions, len(counts.statements))
    store.record_media("dam", {"sha256:ab": "m/2"})  # uploaded again: the newer code wins
    assert "m/2" == store.media_code("dam", "sha256:ab")
    assert store.media_code("other", "sha256:ab") is None
    assert store.media_code("dam", "sha256:cd") is None


def test_states_of_many_ids_are_read_in_bounded_statements(store):
    """More ids than one IN list holds are still all found."""
    keys = [(f"d{i:04d}", "fam", f"d{i:04d}") for i in range(1200)]
    store.prepare_batch("dam", claims=keys, intents=keys)
    assert 1200 == len(store.asset_states("dam", [k[0] for k in keys] + ["missing"]))
    with store.engine.connect() as conn:
        assert 1200 == len(conn.execute(select(asset_states.c.dam_id)).all())
