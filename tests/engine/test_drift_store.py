"""The reconcile spill: the four kinds of drift answered by joins over the three streams."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.engine.drift_store import DamRow, DriftItem, DriftSpill
from daemon.store import AssetState

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def state(dam_id: str, family: str, code: str, *, deleted: bool = False) -> AssetState:
    return AssetState(
        source="demo",
        dam_id=dam_id,
        family=family,
        code=code,
        content_hash="h",
        binary_checksum=None,
        media_code=None,
        dam_updated_at=NOW,
        deleted=deleted,
        last_synced_at=NOW,
        run_id=None,
        request_id=None,
    )


def mapped(dam_id: str, code: str, *, expected: str = "x", in_sync: bool = True) -> DamRow:
    return DamRow(dam_id, 1, "mapped", "packshots", code, "[]", expected, in_sync)


@pytest.fixture(name="spill")
def _spill(tmp_path: Path):
    with DriftSpill(directory=str(tmp_path)) as spill:
        spill.add_family("packshots")
        yield spill


def kinds(spill: DriftSpill) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for kind in ("missing", "stale", "orphaned", "deleted"):
        found[kind] = [(i.dam_id, i.code) for i in spill.items(kind)]
    return found


def test_a_synced_world_has_no_drift(spill):
    """DAM, state and PIM agreeing give four empty lists."""
    spill.add_states([state("a", "packshots", "a")])
    spill.add_dam([mapped("a", "a")])
    spill.add_pim("packshots", [("a", "x")])
    assert {"missing": [], "stale": [], "orphaned": [], "deleted": []} == kinds(spill)
    assert {} == spill.counts()


def test_missing_and_stale(spill):
    """Not in the PIM is missing; other values or an out-of-date state is stale."""
    spill.add_states([state(i, "packshots", i) for i in "abc"])
    spill.add_dam([mapped("a", "a"), mapped("b", "b"), mapped("c", "c", in_sync=False)])
    spill.add_pim("packshots", [("b", "edited"), ("c", "x"), ("unowned", None)])
    found = kinds(spill)
    assert [("a", "a")] == found["missing"]
    assert [("b", "b"), ("c", "c")] == found["stale"]
    assert [] == found["orphaned"]
    assert {("packshots", "missing"): 1, ("packshots", "stale"): 2} == spill.counts()


def test_deleted_in_the_dam_unless_still_listed_or_explained(spill):
    """A known asset the DAM no longer lists is deleted; an id listed or a code explained is not."""
    spill.add_states(
        [
            state("gone", "packshots", "gone"),
            state("listed", "packshots", "listed"),
            state("old-id", "packshots", "shared"),
            state("was-deleted", "packshots", "wd", deleted=True),
        ]
    )
    spill.add_live(["listed"])
    spill.add_dam([mapped("new-id", "shared"), DamRow("tomb", 1, "deleted")])
    spill.add_pim("packshots", [("gone", None), ("listed", None), ("shared", "x")])
    found = kinds(spill)
    assert [("gone", "gone")] == found["deleted"]
    assert [] == found["orphaned"]
    assert 3 == spill.known()


def test_orphans_are_owned_assets_no_dam_asset_explains(spill):
    """Deleted but back in the PIM, or its DAM asset now mapped elsewhere or unmatched."""
    spill.add_states(
        [
            state("restored", "packshots", "restored", deleted=True),
            state("moved", "packshots", "old_code"),
            state("unmatched", "packshots", "um"),
            state("failing", "packshots", "fl"),
            state("deleted-and-gone", "packshots", "dg", deleted=True),
        ]
    )
    spill.add_dam(
        [
            mapped("moved", "new_code"),
            DamRow("unmatched", 1, "unmatched"),
            DamRow("failing", 1, "failed", "packshots", None),
        ]
    )
    spill.add_pim(
        "packshots",
        [("restored", None), ("old_code", None), ("um", None), ("fl", None), ("new_code", "x")],
    )
    found = kinds(spill)
    assert [("moved", "old_code"), ("restored", "restored"), ("unmatched", "um")] == sorted(
        found["orphaned"]
    )
    assert [] == found["deleted"]


def test_a_newer_copy_of_a_dam_asset_wins(spill):
    """An unsorted DAM listing an asset twice: the row with the newer updated_at is kept."""
    spill.add_dam([DamRow("a", 5, "mapped", "packshots", "a", "[]", "new", True)])
    spill.add_dam([DamRow("a", 3, "deleted")])
    spill.add_pim("packshots", [("a", "new")])
    assert [] == kinds(spill)["deleted"] + kinds(spill)["stale"]


def test_the_family_filter_and_the_listed_families_scope_every_kind(tmp_path):
    """With a family filter, drift elsewhere is not reported; unlisted families are not read."""
    with DriftSpill(family="notices", directory=str(tmp_path)) as spill:
        spill.add_family("notices")
        spill.add_states([state("p", "packshots", "p"), state("n", "notices", "n")])
        spill.add_dam([mapped("q", "q")])
        assert [DriftItem("notices", "deleted", "n", "n")] == list(spill.items("deleted"))
        assert [] == list(spill.items("missing"))


def test_items_stream_in_order_and_chunks_skip_what_is_asked(spill):
    """Items come sorted by family and code; chunks give distinct DAM ids, minus a skipped kind."""
    spill.add_states([state("moved", "packshots", "old"), state("gone", "packshots", "gone")])
    spill.add_dam([mapped(f"m{i}", f"m{i}") for i in range(5)] + [mapped("moved", "new")])
    spill.add_pim("packshots", [("old", None)])
    assert ["m0", "m1"] == [i.dam_id for i in spill.items("missing", limit=2)]
    assert [["gone", "moved"]] == list(spill.chunks(("deleted", "orphaned"), 10))
    resend = list(spill.chunks(("missing", "stale"), 4, skip=("orphaned",)))
    assert [["m0", "m1", "m2", "m3"], ["m4"]] == resend


def test_the_spill_is_a_temporary_file_removed_on_close(tmp_path):
    """Nothing is left behind in the spill directory."""
    with DriftSpill(directory=str(tmp_path)) as spill:
        spill.add_live(["a"])
        assert list(tmp_path.iterdir())
    assert [] == list(tmp_path.iterdir())
