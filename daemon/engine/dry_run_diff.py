"""
The dry run's difference (``sync --once --dry-run --diff``): what a pass would change in the PIM.

A dry run previews, per asset, the values it would send (``BatchReport.dry_run_items``, with
``"data": null`` for each erasure) and the withdrawals it would apply. Here each preview is set
against the PIM's current asset, per ``(attribute, locale, channel)``: a value that differs is
``changed`` (``old → new``; ``old`` is ``None`` when the PIM has no value there), a null the PIM
still holds a value for is ``erased``, an asset the PIM lacks is ``created``, and a withdrawal
names the old key, why, and the deletion policy that would apply. Unchanged values, and values
on keys the write does not touch (a PATCH leaves them), are not listed.

Values compare as a reconcile compares them (:func:`~daemon.engine.drift_values.canonical`:
empty is no value, option lists are unordered). A binary is not downloaded by a dry run: its
value is ``<upload name>``, unchanged when the store's media code for the same checksum is what
the PIM holds (``stored_media``), otherwise listed.

:func:`diff_asset` and the row helpers are pure; :func:`diff_previews` reads the PIM through the
:class:`~daemon.engine.seams.PimAssetLookup` seam, one ``code IN`` search per family per 100
codes (the bulk limit, so never more than a batch's worth at once), and writes nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from daemon.core.records import DamAsset, PimValue
from daemon.engine.batcher import BULK_LIMIT
from daemon.engine.drift_values import canonical
from daemon.engine.outcomes import DeletePolicy
from daemon.engine.seams import PimAssetLookup
from daemon.engine.withdrawals import Withdrawal
from daemon.sources.checksums import ChecksumFormatError, parse_checksum
from daemon.store import AssetState

ChangeKind = Literal["changed", "erased"]
DiffStatus = Literal["created", "changed", "withdrawn"]
Key = tuple[str, str | None, str | None]

#: How a dry run's preview shows a binary it would upload (see ``batch_writer._preview``).
UPLOAD_PREFIX = "<upload "


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One value that would change: its key, the PIM's data now, the data sent, and how."""

    attribute: str
    locale: str | None
    channel: str | None
    old: object
    new: object
    kind: ChangeKind

    def to_json(self) -> dict[str, object]:
        return {
            "attribute": self.attribute,
            "locale": self.locale,
            "channel": self.channel,
            "old": self.old,
            "new": self.new,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class AssetDiff:
    """
    What a pass would change in one PIM asset.

    Args:
        source: The source's name.
        dam_id: The DAM asset.
        family: The PIM asset's family.
        code: The PIM asset's code (a withdrawal: the old key's code).
        status: ``created``, ``changed`` or ``withdrawn``.
        changes: The values that would change (none for a withdrawal).
        reason: A withdrawal's reason: ``tombstone``, ``rekeyed`` or ``unmatched``.
        policy: A withdrawal's deletion policy (the brake may still hold it).
    """

    source: str
    dam_id: str
    family: str
    code: str
    status: DiffStatus
    changes: tuple[ValueChange, ...] = ()
    reason: str | None = None
    policy: str | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "source": self.source,
            "dam_id": self.dam_id,
            "family": self.family,
            "code": self.code,
            "status": self.status,
            "changes": [c.to_json() for c in self.changes],
        }
        if self.status == "withdrawn":
            body["reason"], body["policy"] = self.reason, self.policy
        return body


def stored_media(asset: DamAsset, state: AssetState | None) -> dict[str, str]:
    """
    The media code the store holds for ``asset``'s binary when its announced checksum is the
    one stored (compared normalised, as :mod:`.media_transfer` keys them); else nothing.
    """
    announced = asset.binary.checksum if asset.binary is not None else None
    if state is None or state.media_code is None or not announced:
        return {}
    try:
        checksum = parse_checksum(announced, None)
    except ChecksumFormatError:
        return {}  # the real pass fails this asset's media; the diff shows an upload
    same = state.binary_checksum in (checksum.key, checksum.hex, announced.strip())
    return {"stored_media": state.media_code} if same else {}


def withdrawn_preview(withdrawal: Withdrawal, policy: DeletePolicy) -> dict[str, Any]:
    """A dry run's item for one withdrawal: the old key, why, and the policy."""
    return {
        "dam_id": withdrawal.asset.id,
        "family": withdrawal.family,
        "code": withdrawal.code,
        "withdrawn": withdrawal.reason,
        "policy": policy,
    }


def dry_run_items(
    previews: Sequence[tuple[DamAsset, dict[str, Any]]],
    states: Mapping[str, AssetState],
    withdrawals: Sequence[Withdrawal],
    policy: DeletePolicy,
) -> list[dict[str, Any]]:
    """
    A dry run batch's items: each preview with its stored media code, then each withdrawal.

    Args:
        previews: Each asset to write and its preview (``batch_writer._preview``).
        states: What the store knows of the batch's assets, by DAM id.
        withdrawals: The PIM assets the batch would withdraw.
        policy: The source's deletion policy.
    """
    items = [body | stored_media(asset, states.get(asset.id)) for asset, body in previews]
    return items + [withdrawn_preview(w, policy) for w in withdrawals]


def _same(old: object, new: object, media: object) -> bool:
    if isinstance(new, str) and new.startswith(UPLOAD_PREFIX):
        return media is not None and canonical(old) == canonical(media)
    return canonical(old) == canonical(new)


def diff_asset(
    source: str, item: Mapping[str, Any], current: Mapping[str, Sequence[PimValue]] | None
) -> AssetDiff | None:
    """
    The difference one dry run item would make.

    Args:
        source: The source's name.
        item: A dry run item: a preview (``family``, ``code``, ``values`` as sent) or a
            withdrawal (``withdrawn``, ``policy``).
        current: The PIM's values of that asset now; ``None`` when the PIM lacks it.

    Returns:
        The difference, or ``None`` when the write would change nothing.
    """
    dam_id, family, code = str(item["dam_id"]), str(item["family"]), str(item["code"])
    if "withdrawn" in item:
        reason, policy = str(item["withdrawn"]), str(item["policy"])
        return AssetDiff(source, dam_id, family, code, "withdrawn", (), reason, policy)
    old_of: dict[Key, object] = {}
    for attribute, values in (current or {}).items():
        for value in values:
            old_of[attribute, value.locale, value.channel] = value.data
    changes: list[ValueChange] = []
    for attribute, values in sorted(item["values"].items()):
        for value in values:
            key: Key = (attribute, value["locale"], value["channel"])
            old, new = canonical(old_of.get(key)), value["data"]
            if new is None:
                if old is not None:
                    changes.append(ValueChange(*key, old_of[key], None, "erased"))
            elif not _same(old, new, item.get("stored_media")):
                changes.append(ValueChange(*key, old_of.get(key), new, "changed"))
    if current is None:
        return AssetDiff(source, dam_id, family, code, "created", tuple(changes))
    if not changes:
        return None
    return AssetDiff(source, dam_id, family, code, "changed", tuple(changes))


async def diff_previews(
    source: str, pim: PimAssetLookup, items: Sequence[Mapping[str, Any]]
) -> list[AssetDiff]:
    """
    Read the PIM's current version of each previewed asset and diff it; writes nothing.

    Args:
        source: The source's name.
        pim: Reads assets by code (``daemon.pim.PimClient``).
        items: A dry run's items, in order.

    Returns:
        One difference per item that would change something, in the items' order.
    """
    wanted: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if "withdrawn" not in item:
            wanted[str(item["family"])].append(str(item["code"]))
    found: dict[tuple[str, str], Mapping[str, Sequence[PimValue]]] = {}
    for family, codes in wanted.items():
        unique = list(dict.fromkeys(codes))
        for start in range(0, len(unique), BULK_LIMIT):
            chunk = unique[start : start + BULK_LIMIT]
            # A PIM ignoring the code filter (before 7.0) lists more: only these are kept.
            keep = set(chunk)
            async for asset in pim.iter_assets(family, codes=chunk):
                if asset.code in keep:
                    found[family, asset.code] = asset.values
    diffs = []
    for item in items:
        current = found.get((str(item["family"]), str(item["code"])))
        diff = diff_asset(source, item, current)
        if diff is not None:
            diffs.append(diff)
    return diffs


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _shown(data: object, missing: str) -> str:
    if data is None:
        return missing
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)


def diff_rows(diff: AssetDiff, *, value_width: int = 24) -> list[list[str]]:
    """
    The table rows of one difference: asset, what, key, ``old → new`` (long values cut).

    Args:
        diff: One asset's difference.
        value_width: The widest old or new value shown.

    Returns:
        One row per change; one row for a withdrawal or a creation without values.
    """
    asset = shorten(f"{diff.family}/{diff.code}", 24)
    if diff.status == "withdrawn":
        return [[asset, "withdrawn", "-", f"{diff.reason}: policy {diff.policy}"]]
    if not diff.changes:
        return [[asset, diff.status, "-", "-"]]
    rows = []
    for change in diff.changes:
        scope = ",".join(p for p in (change.locale, change.channel) if p)
        key = shorten(change.attribute + (f"[{scope}]" if scope else ""), 28)
        what = "created" if diff.status == "created" else change.kind
        old = shorten(_shown(change.old, "(none)"), value_width)
        new = shorten(_shown(change.new, "(erased)"), value_width)
        rows.append([asset, what, key, f"{old} → {new}"])
    return rows


__all__ = [
    "AssetDiff",
    "ValueChange",
    "diff_asset",
    "diff_previews",
    "diff_rows",
    "dry_run_items",
    "shorten",
    "stored_media",
    "withdrawn_preview",
]
