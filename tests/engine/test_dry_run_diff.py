"""The dry run's difference: a preview against the PIM's current asset, per value key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from daemon.core.records import PimValue
from daemon.engine.dry_run_diff import (
    AssetDiff,
    ValueChange,
    diff_asset,
    diff_previews,
    diff_rows,
    shorten,
)


def preview(code: str = "a1", stored_media: str | None = None, **values: Any) -> dict[str, Any]:
    """A dry run item as the batch writer previews it (values by attribute)."""
    item: dict[str, Any] = {
        "dam_id": f"dam-{code}",
        "family": "packshots",
        "code": code,
        "values": {
            attr: [{"locale": loc, "channel": ch, "data": data} for loc, ch, data in vals]
            for attr, vals in values.items()
        },
    }
    if stored_media is not None:
        item["stored_media"] = stored_media
    return item


def pim(**values: Any) -> dict[str, tuple[PimValue, ...]]:
    return {
        attr: tuple(PimValue(data, loc, ch) for loc, ch, data in vals)
        for attr, vals in values.items()
    }


CASES = [
    pytest.param(
        preview(title=[(None, None, "Hat")]),
        pim(title=[(None, None, "Hat")]),
        None,
        id="nothing-changes",
    ),
    pytest.param(
        preview(description=[("en_US", None, "new")]),
        pim(description=[("en_US", None, "old")], title=[(None, None, "Hat")]),
        ("changed", [ValueChange("description", "en_US", None, "old", "new", "changed")]),
        id="one-value-changes-others-untouched",
    ),
    pytest.param(
        preview(tags=[(None, None, None)]),
        pim(tags=[(None, None, ["red", "blue"])]),
        ("changed", [ValueChange("tags", None, None, ["red", "blue"], None, "erased")]),
        id="erased",
    ),
    pytest.param(
        preview(tags=[(None, None, None)]),
        pim(title=[(None, None, "Hat")]),
        None,
        id="erasing-an-absent-value-changes-nothing",
    ),
    pytest.param(
        preview(tags=[(None, None, ["b", "a"])]),
        pim(tags=[(None, None, ["a", "b"])]),
        None,
        id="option-order-is-no-change",
    ),
    pytest.param(
        preview(title=[(None, "ecommerce", "Hat")]),
        pim(title=[(None, "print", "Hat")]),
        ("changed", [ValueChange("title", None, "ecommerce", None, "Hat", "changed")]),
        id="another-channel-is-another-key",
    ),
    pytest.param(
        preview(title=[(None, None, "Hat")], tags=[(None, None, None)]),
        None,
        ("created", [ValueChange("title", None, None, None, "Hat", "changed")]),
        id="created-lists-its-values-not-its-nulls",
    ),
    pytest.param(
        preview(stored_media="m/1.jpg", media=[(None, None, "<upload 1.jpg>")]),
        pim(media=[(None, None, "m/1.jpg")]),
        None,
        id="same-binary-already-uploaded",
    ),
    pytest.param(
        preview(media=[(None, None, "<upload 2.jpg>")]),
        pim(media=[(None, None, "m/1.jpg")]),
        ("changed", [ValueChange("media", None, None, "m/1.jpg", "<upload 2.jpg>", "changed")]),
        id="new-binary",
    ),
]


@pytest.mark.parametrize(("item", "current", "expected"), CASES)
def test_diff_asset(item, current, expected):
    """Each case lists exactly the keys whose value would change, and the asset's status."""
    diff = diff_asset("demo", item, current)
    if expected is None:
        assert None is diff
    else:
        status, changes = expected
        assert diff is not None
        assert (status, changes) == (diff.status, list(diff.changes))


def test_withdrawal_names_old_key_reason_and_policy():
    """A withdrawn item diffs to its old key, why, and the policy that would apply."""
    item = {
        "dam_id": "d1",
        "family": "packshots",
        "code": "old",
        "withdrawn": "rekeyed",
        "policy": "delete",
    }
    expected = AssetDiff("demo", "d1", "packshots", "old", "withdrawn", (), "rekeyed", "delete")
    assert expected == diff_asset("demo", item, None)


@dataclass
class Lookup:
    """A fake PIM: assets by family; records each search."""

    assets: Mapping[str, Mapping[str, Mapping[str, Sequence[PimValue]]]]
    searches: list[tuple[str, list[str]]] = field(default_factory=list)

    async def iter_assets(
        self, family: str, *, codes: Iterable[str] | None = None
    ) -> AsyncIterator[Remote]:
        wanted = list(codes or ())
        self.searches.append((family, wanted))
        for code, values in self.assets.get(family, {}).items():
            yield Remote(code, values)  # ignores the filter, as an old PIM might


@dataclass
class Remote:
    code: str
    values: Mapping[str, Sequence[PimValue]]


async def test_previews_read_by_codes_in_chunks_of_100():
    """The PIM is searched by code, at most 100 codes a request; absent codes are created."""
    items = [preview(f"a{i}", title=[(None, None, "new")]) for i in range(150)]
    items.append(
        {
            "dam_id": "d",
            "family": "packshots",
            "code": "x",
            "withdrawn": "tombstone",
            "policy": "ignore",
        }
    )
    lookup = Lookup({"packshots": {"a0": pim(title=[(None, None, "old")]), "zz": pim()}})
    diffs = await diff_previews("demo", lookup, items)
    assert [100, 50] == [len(codes) for _family, codes in lookup.searches]
    assert ["changed"] + ["created"] * 149 + ["withdrawn"] == [d.status for d in diffs]


def test_rows_and_shortening_fit_80_columns():
    """Long values are cut with an ellipsis; every row names the asset, key and old → new."""
    diff = AssetDiff(
        "demo",
        "d1",
        "packshots",
        "a1",
        "changed",
        (ValueChange("description", "en_US", "ecommerce", "x" * 200, "y", "changed"),),
    )
    rows = diff_rows(diff)
    assert 1 == len(rows)
    assert "packshots/a1" == rows[0][0]
    assert "description[en_US,ecommerce]" == rows[0][2]
    assert rows[0][3].endswith("→ y") and "…" in rows[0][3]
    assert "abc…" == shorten("abcdefgh", 4)
    assert "abc" == shorten("abc", 4)
