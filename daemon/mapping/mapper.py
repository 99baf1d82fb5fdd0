"""
Map one DAM asset to one PIM asset: the mapper the sync engine calls per asset.

:meth:`Mapper.map_asset` returns exactly one of three records: :class:`MappedAsset` (ready to
write once the engine has uploaded its media), :class:`Unmatched` (no family rule applies and the
source skips such assets: counted, not an error) or :class:`MappingFailed` (every problem of the
asset, each a :class:`~daemon.core.errors.MappingError` naming asset, field and reason). It never
raises for bad input and one asset never affects another. No I/O, no clock, no settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.core.errors import MappingError
from daemon.core.records import AssetFamily, BinaryRef, Channel, DamAsset, PimAsset, PimValue
from daemon.mapping.codes import sanitise_code
from daemon.mapping.fast import Step, compile_step
from daemon.mapping.option_labels import DEFAULT_LABEL_LOCALE, Labels, fallback_locale
from daemon.mapping.paths import ValueProblem
from daemon.mapping.plan import CompiledFamily, CompiledValue, compile_mapping
from daemon.mapping.results import (
    AssetKey,
    ManagedScope,
    MappedAsset,
    MappingFailed,
    MappingResult,
    MediaRequest,
    MissingOption,
    Unmatched,
    content_hash,
    hash_values,
)
from daemon.mapping.rules import SourceMapping
from daemon.mapping.values import Run, field_name, map_value

_OPTIONS_LIMIT = 4096


def _binary_identity(binary: BinaryRef, asset: DamAsset) -> dict[str, Any]:
    if binary.checksum:
        return {"checksum": binary.checksum}
    # Without a checksum a changed binary is only visible through the asset's own change time.
    return {
        "url": binary.url.split("?", 1)[0] if binary.url else None,
        "path": binary.path,
        "size": binary.size,
        "updated_at": asset.updated_at.isoformat(),
    }


def _reference(cv: CompiledValue) -> Step:
    return lambda run: map_value(run, cv)


class Mapper:
    """
    Maps DAM assets of one source with its rules, compiled once against the PIM structure.

    Args:
        rules: The source's mapping rules.
        families: The cached family structure by code (``daemon.core.records.AssetFamily``).
        channels: The PIM channels with their active locales.
        fast: Map with the specialised steps of :mod:`daemon.mapping.fast` (the default);
            ``False`` runs the reference :func:`~daemon.mapping.values.map_value` for every
            value, which gives the same results more slowly (for tests and benchmarks).
    """

    def __init__(
        self,
        rules: SourceMapping,
        families: Mapping[str, AssetFamily],
        channels: Sequence[Channel],
        *,
        fast: bool = True,
    ) -> None:
        self.rules = rules
        self._plan = compile_mapping(rules, families, channels)
        # A DAM label without a locale goes in en_US, or in an active locale when it is not.
        self._label_locale = fallback_locale({loc for c in channels for loc in c.locales})
        # Missing options repeat across assets (new tags): their frozen records are shared.
        self._options: dict[tuple[str, str, str, str, Labels], MissingOption] = {}
        self._steps: dict[int, tuple[Step, ...]] = {
            id(rule): tuple(compile_step(cv) if fast else _reference(cv) for cv in rule.values)
            for rule in self._plan
        }

    def _missing(
        self, family: str, found: Sequence[tuple[str, str, str, Labels]]
    ) -> tuple[MissingOption, ...]:
        """The options to create, the first label of each; the same labels give shared records."""
        firsts: dict[tuple[str, str], tuple[str, Labels]] = {}
        for attr, option, label, labels in found:
            firsts.setdefault((attr, option), (label, labels))
        known = self._options
        out = []
        for (a, c), (t, labels) in firsts.items():
            key = (family, a, c, t, labels)
            record = known.get(key)
            if record is None:
                record = MissingOption(family, a, c, t, labels or self._default_labels(t))
                if len(known) < _OPTIONS_LIMIT:
                    known[key] = record
            out.append(record)
        return tuple(out)

    def _default_labels(self, label: str) -> Labels:
        """The DAM label in one locale; empty for en_US, which the engine uses by default."""
        locale = self._label_locale
        return () if locale == DEFAULT_LABEL_LOCALE else ((locale, label),)

    def _rule(self, asset: DamAsset) -> tuple[int, CompiledFamily] | Unmatched | MappingFailed:
        for index, rule in enumerate(self._plan):
            for predicate in rule.predicates:
                if not predicate(asset):
                    break
            else:
                return index, rule
        if self.rules.unmatched == "skip":
            return Unmatched(asset.id)
        error = MappingError(asset_id=asset.id, field="family", reason="no family rule matched")
        return MappingFailed(asset.id, None, (error,))

    def _code(self, run: Run, rule: CompiledFamily) -> str:
        try:
            raw = rule.code(run.asset)
            if raw is None:
                run.fail("code", "the code template has a missing field")
                return ""
            return sanitise_code(raw)
        except (ValueProblem, ValueError) as exc:
            run.fail("code", getattr(exc, "reason", str(exc)))
            return ""

    def identify(self, asset: DamAsset) -> AssetKey | Unmatched | MappingFailed:
        """
        Find the family and code of an asset without mapping its values (e.g. for deletions).

        Args:
            asset: The DAM asset.

        Returns:
            Its key, or why it has none.
        """
        found = self._rule(asset)
        if not isinstance(found, tuple):
            return found
        index, rule = found
        run = Run(asset, rule.family)
        code = self._code(run, rule)
        if run.errors:
            return MappingFailed(asset.id, rule.family, tuple(run.errors))
        return AssetKey(rule.family, code, index)

    def map_asset(self, asset: DamAsset, key: AssetKey | None = None) -> MappingResult:
        """
        Map one asset, collecting every problem it has.

        Args:
            asset: The DAM asset.
            key: Its key from :meth:`identify`, when it was routed already: the rule and code
                found then are used as they are (rules are configuration, so a structure
                refresh in between cannot change them).

        Returns:
            A :class:`MappedAsset`, :class:`Unmatched` or :class:`MappingFailed`.
        """
        if key is not None and 0 <= key.rule < len(self._plan):
            rule = self._plan[key.rule]
            run = Run(asset, rule.family)
            code: str | None = key.code
        else:
            found = self._rule(asset)
            if not isinstance(found, tuple):
                return found
            rule = found[1]
            run = Run(asset, rule.family)
            code = None
        for field, problem in rule.problems:
            run.fail(field, f"configuration problem at {problem.path}: {problem.message}")
        if code is None:
            code = self._code(run, rule)
        for step in self._steps[id(rule)]:
            step(run)
        if run.errors:
            return MappingFailed(asset.id, rule.family, tuple(run.errors))
        values = run.values
        # The lists as tuples, without a comprehension (a function call before Python 3.12).
        pim = PimAsset(
            rule.family, code, dict(zip(values, map(tuple, values.values()), strict=True))
        )
        missing: tuple[MissingOption, ...] = ()
        if run.missing:
            missing = self._missing(rule.family, run.missing)
        # Each placeholder is in the values once: its identity is computed where the hash
        # needs it, without a dict keyed by (slow to hash) media requests.
        digest = hash_values(pim, lambda m: _binary_identity(m.binary, asset))
        return MappedAsset(asset.id, pim, tuple(run.media), missing, digest, rule.scope)


def fill_media(mapped: MappedAsset, codes: Mapping[MediaRequest, str]) -> PimAsset:
    """
    Put the uploaded media file codes in place of the media placeholders.

    Args:
        mapped: A mapped asset.
        codes: The media file code of each of its media requests.

    Returns:
        The PIM asset ready to send.

    Raises:
        MappingError: a media request has no code (names the asset and the attribute).
    """
    if not mapped.media:
        # Every placeholder is one of the asset's media requests (map_asset records each):
        # without any, the values are sent as they are (no copy per asset in link mode).
        return mapped.asset
    values: dict[str, tuple[PimValue, ...]] = {}
    for attr, vals in mapped.asset.values.items():
        filled = []
        for v in vals:
            if isinstance(v.data, MediaRequest):
                if v.data not in codes:
                    raise MappingError(
                        asset_id=mapped.asset_id,
                        field=field_name(attr, v.locale, v.channel),
                        reason="no media file code was given for this binary",
                    )
                v = PimValue(codes[v.data], v.locale, v.channel)
            filled.append(v)
        values[attr] = tuple(filled)
    return PimAsset(mapped.asset.family, mapped.asset.code, values)


__all__ = [
    "AssetKey",
    "ManagedScope",
    "MappedAsset",
    "Mapper",
    "MappingFailed",
    "MappingResult",
    "MediaRequest",
    "MissingOption",
    "Unmatched",
    "content_hash",
    "fill_media",
]
