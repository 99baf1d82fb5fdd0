"""
Asset ownership per PIM (issue 19): a key is ``(pim, family, code)``.

Two sources writing the same codes into two PIMs own them each in their own PIM; two sources
writing one code into ONE PIM are still refused. Every read and write of ownership (claims,
live keys, brake figures, owned assets, withdrawals, held deletions) stays in its PIM, and a
store's view of a PIM costs no extra statement.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from daemon.store import OwnerAction, Store, WithdrawnAsset
from daemon.store.database import upgrade
from daemon.store.ownership import DEFAULT_PIM
from daemon.store.tables import pim_owners
from tests.store.test_prepared_batch import counting


def rows(store) -> dict[tuple[str, str, str], tuple[str, str, str | None]]:
    """Every owner row: ``(pim, family, code) -> (source, dam_id, action)``."""
    with store.engine.connect() as conn:
        found = conn.execute(select(pim_owners))
        return {(r.pim, r.family, r.code): (r.source, r.dam_id, r.action) for r in found}


def withdrawn(pim: str, code: str, action: OwnerAction = "deleted") -> WithdrawnAsset:
    return WithdrawnAsset("d1", "fam", code, "tombstone", action, "delete", pim)


def test_the_same_key_in_two_pims_is_two_assets(store):
    """One DAM into two PIMs: each source claims the same key in its own PIM, both succeed."""
    eu, us = store.for_pim("eu"), store.for_pim("us")
    keys = [("d1", "fam", "c1"), ("d2", "fam", "c2")]
    assert {} == eu.prepare_batch("eu_src", claims=keys, intents=keys)
    assert {} == us.prepare_batch("us_src", claims=keys, intents=keys)
    assert {
        ("eu", "fam", "c1"): ("eu_src", "d1", None),
        ("eu", "fam", "c2"): ("eu_src", "d2", None),
        ("us", "fam", "c1"): ("us_src", "d1", None),
        ("us", "fam", "c2"): ("us_src", "d2", None),
    } == rows(store)
    assert {"d1": [("fam", "c1")]} == eu.live_keys("eu_src", ["d1"])
    assert {} == us.live_keys("eu_src", ["d1"])
    assert ["c1", "c2"] == [a.code for a in us.owned_assets("us_src")]
    assert [] == us.owned_assets("eu_src")
    assert [] == store.owned_assets("eu_src")  # the default PIM holds none of them
    assert 2 == eu.brake_figures("eu_src", ["fam"], 60)["fam"].live
    assert 0 == us.brake_figures("eu_src", ["fam"], 60)["fam"].live


def test_two_sources_in_one_pim_are_still_refused(store):
    """The same key from a second source into the SAME PIM is refused, naming the owner."""
    eu = store.for_pim("eu")
    assert {} == eu.claim_keys("a", [("d1", "fam", "c1")])
    refused = eu.prepare_batch("b", claims=[("d9", "fam", "c1")], intents=[("d9", "fam", "c1")])
    assert {("fam", "c1"): "a"} == refused
    assert {} == store.asset_states("b", ["d9"])  # refused: no intent noted
    # In the default PIM the same key is free for b.
    assert {} == store.prepare_batch("b", claims=[("d9", "fam", "c1")], intents=[])
    assert {
        ("eu", "fam", "c1"): ("a", "d1", None),
        (DEFAULT_PIM, "fam", "c1"): ("b", "d9", None),
    } == rows(store)


def test_a_deleted_key_is_free_again_in_its_own_pim_only(store):
    """A key withdrawn as deleted in one PIM is free there; the other PIM's owner keeps it."""
    eu, us = store.for_pim("eu"), store.for_pim("us")
    eu.claim_keys("a", [("d1", "fam", "c1")])
    us.claim_keys("c", [("d1", "fam", "c1")])
    lease = store.acquire_lease("a", "w", 60)
    store.commit_batch(lease, None, cursor=None, withdrawn=[withdrawn("eu", "c1")])
    assert ("a", "d1", "deleted") == rows(store)["eu", "fam", "c1"]
    assert ("c", "d1", None) == rows(store)["us", "fam", "c1"]
    assert {} == eu.claim_keys("b", [("d5", "fam", "c1")])
    assert {("fam", "c1"): "c"} == us.claim_keys("b", [("d5", "fam", "c1")])


def test_held_deletions_of_one_code_in_two_pims(store):
    """
    Both PIMs' withdrawals of one code are held (neither is lost to the other), counted by the
    brake in their PIM, and settled on the owner row of the PIM each was held in, also by the
    operator's store (the default PIM's view).
    """
    eu, us = store.for_pim("eu"), store.for_pim("us")
    eu.claim_keys("eu_src", [("d1", "fam", "c1")])
    us.claim_keys("us_src", [("d1", "fam", "c1")])
    for source, pim in (("eu_src", "eu"), ("us_src", "us")):
        lease = store.acquire_lease(source, "w", 60)
        store.commit_batch(lease, None, cursor=None, withdrawn=[withdrawn(pim, "c1", "pending")])
    held = store.pending_deletions()
    assert [("eu_src", "eu", "c1"), ("us_src", "us", "c1")] == [
        (p.source, p.pim, p.code) for p in held
    ]
    assert 1 == eu.brake_figures("eu_src", ["fam"], 60)["fam"].pending
    assert 0 == us.brake_figures("eu_src", ["fam"], 60)["fam"].pending
    assert 0 == store.brake_figures("eu_src", ["fam"], 60)["fam"].pending

    assert 1 == store.settle_pending("us_src", [(held[1].id, "kept")])
    assert ("us_src", "d1", "kept") == rows(store)["us", "fam", "c1"]
    assert ("eu_src", "d1", "pending") == rows(store)["eu", "fam", "c1"]
    assert 0 == store.settle_pending("us_src", [(held[0].id, "kept")])  # eu_src's, not us_src's
    # Claiming the key again in eu drops only eu's held deletion.
    assert {} == eu.claim_keys("eu_src", [("d1", "fam", "c1")])
    assert [] == store.pending_deletions()


def test_a_view_of_a_pim_costs_no_extra_statement(store):
    """Claims and intents in a PIM's view: one transaction, the same 4 statements."""
    keys = [(f"d{i}", "fam", f"c{i}") for i in range(5)]
    with counting(store) as counts:
        store.for_pim("eu").prepare_batch("dam", claims=keys, intents=keys)
    assert (1, 4) == (counts.transactions, len(counts.statements))


def test_a_view_shares_the_store_and_names_its_pim(store):
    view = store.for_pim("eu")
    assert ("eu", DEFAULT_PIM) == (view.pim, store.pim)
    assert view.engine is store.engine
    assert "eu" == view.for_pim("eu").pim
    for bad in ("", "x" * 101):
        with pytest.raises(ValueError, match="PIM name"):
            store.for_pim(bad)


def test_the_default_pim_is_the_configured_one():
    """The store's default PIM is the name ``[pim]`` has in the settings."""
    from daemon.settings.connections import DEFAULT_PIM as CONFIGURED

    assert CONFIGURED == DEFAULT_PIM


def test_the_per_batch_read_of_live_keys_uses_the_dam_id_index(tmp_path):
    """live_keys, as the store sends it, searches (source, dam_id), never the PIM's rows."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    store = Store.from_url(url).for_pim("eu")
    sent: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, *_args):
        sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        assert {} == store.live_keys("demo", ["d1", "d2"])
        ((statement, parameters),) = [(s, p) for s, p in sent if "pim_owners" in s]
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
        store.dispose()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_pim_owners_source_dam_id" in details, details
