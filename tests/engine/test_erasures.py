"""Which values a write erases: previous managed keys minus current ones, within the scope."""

from __future__ import annotations

from datetime import UTC, datetime

from daemon.core.records import PimAsset, PimValue
from daemon.engine.erasures import plan_erasures
from daemon.mapping import ManagedScope, MappedAsset
from daemon.store import AssetState

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
DESCRIPTION = {("description", loc, None) for loc in ("en_US", "fr_FR", "de_DE")}
SCOPE = ManagedScope(
    erasable=frozenset(DESCRIPTION | {("tags", None, None)}),
    kept=frozenset({("colour", None, None)}),
)


def _mapped(values: dict[str, tuple[PimValue, ...]], code: str = "a1") -> MappedAsset:
    return MappedAsset("a1", PimAsset("packshots", code, values), (), (), "hash", SCOPE)


def _state(managed, *, deleted: bool = False, code: str = "a1") -> AssetState:
    return AssetState(
        "demo", "a1", "packshots", code, "old", None, None, T0, deleted, T0, None, None, managed
    )


def _nulls(plan) -> set[tuple[str, str | None, str | None]]:
    return {
        (attr, v.locale, v.channel)
        for attr, values in plan.mapped.asset.values.items()
        for v in values
        if v.data is None
    }


def test_a_value_no_longer_given_is_erased_and_leaves_the_managed_set():
    """Keys written before and not given now get a null; the managed set is what is given."""
    mapped = _mapped({"description": (PimValue("Red", "en_US"),)})
    plan = plan_erasures(mapped, _state(frozenset(DESCRIPTION | {("tags", None, None)})))
    expected = (
        {("description", "fr_FR", None), ("description", "de_DE", None), ("tags", None, None)},
        frozenset({("description", "en_US", None)}),
        3,
    )
    assert expected == (_nulls(plan), plan.managed, plan.erased)
    assert (PimValue("Red", "en_US"),) == plan.mapped.asset.values["description"][:1]
    assert "hash" == plan.mapped.content_hash


def test_unknown_deleted_or_moved_assets_erase_nothing_and_record_the_current_keys():
    """NULL keys (before 0003), a deleted asset or another PIM code erase nothing."""
    mapped = _mapped({"description": (PimValue("Red", "en_US"),)})
    current = frozenset({("description", "en_US", None)})
    for state in (
        None,
        _state(None),
        _state(frozenset(DESCRIPTION), deleted=True),
        _state(frozenset(DESCRIPTION), code="other"),
    ):
        plan = plan_erasures(mapped, state)
        assert (set(), current, 0, mapped) == (_nulls(plan), plan.managed, plan.erased, plan.mapped)


def test_opted_out_keys_are_kept_managed_and_unscoped_keys_are_let_go():
    """A kept key stays managed without a null; a key outside the scope is neither."""
    previous = frozenset({("colour", None, None), ("dam_url", None, None)})
    plan = plan_erasures(_mapped({}), _state(previous))
    expected: tuple[set[object], frozenset[object], int] = (
        set(),
        frozenset({("colour", None, None)}),
        0,
    )
    assert expected == (_nulls(plan), plan.managed, plan.erased)
