"""
Map one DAM asset to one PIM asset: the mapper the sync engine calls per asset.

:meth:`Mapper.map_asset` returns exactly one of three records: :class:`MappedAsset` (ready to
write once the engine has uploaded its media), :class:`Unmatched` (no family rule applies and the
source skips such assets: counted, not an error) or :class:`MappingFailed` (every problem of the
asset, each a :class:`~daemon.errors.MappingError` naming asset, field and reason). It never
raises for bad input and one asset never affects another. No I/O, no clock, no settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.errors import MappingError
from daemon.mapping.codes import sanitise_code
from daemon.mapping.convert import show
from daemon.mapping.paths import ValueProblem
from daemon.mapping.plan import CompiledFamily, CompiledValue, compile_mapping
from daemon.mapping.results import (
    AssetKey,
    MappedAsset,
    MappingFailed,
    MappingResult,
    MediaRequest,
    MissingOption,
    Unmatched,
    content_hash,
)
from daemon.mapping.rules import SourceMapping
from daemon.models import AssetFamily, BinaryRef, Channel, DamAsset, PimAsset, PimValue


def _field(attribute: str, locale: str | None, channel: str | None) -> str:
    scope = [f"locale={locale}"] * (locale is not None) + [f"channel={channel}"] * (
        channel is not None
    )
    return f"{attribute}[{','.join(scope)}]" if scope else attribute


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


class _Run:
    """The mutable state of mapping one asset."""

    __slots__ = ("asset", "errors", "family", "media", "missing", "sink", "values")

    def __init__(self, asset: DamAsset, family: str) -> None:
        self.asset = asset
        self.family = family
        self.errors: list[MappingError] = []
        self.values: dict[str, list[PimValue]] = {}
        self.media: list[MediaRequest] = []
        self.missing: list[tuple[str, str, str]] = []
        self.sink: list[tuple[str, str]] = []  # (option code, label) of the current attribute

    def fail(self, field: str, reason: str, **details: Any) -> None:
        self.errors.append(
            MappingError(
                asset_id=self.asset.id,
                field=field,
                reason=reason,
                details={"family": self.family, **details},
            )
        )


def _fan_out(cv: CompiledValue, raw: Any) -> list[tuple[str | None, Any]]:
    """Pair the raw value with the PIM locales it fills (``None`` when not localizable)."""
    # `type(...) is dict` first: the ABC check is slow and metadata is parsed JSON.
    if type(raw) is dict or (raw is not None and type(raw) is not str and isinstance(raw, Mapping)):
        if cv.locale not in (None, "*"):
            picked = next((raw[k] for k in cv.pick_keys if k in raw), None)
            return [(cv.locale if cv.attribute.value_per_locale else None, picked)]
        if not cv.attribute.value_per_locale:
            raise ValueProblem(
                "got an object (keyed by locale?) for a non-localizable attribute: "
                "set locale to pick one key"
            )
        out: list[tuple[str | None, Any]] = []
        seen: set[str] = set()
        for key, value in raw.items():
            loc = cv.renames.get(key, key)
            if loc in cv.active_set:
                if loc in seen:
                    raise ValueProblem(f"two DAM keys give the locale {loc!r}")
                seen.add(loc)
                out.append((loc, value))
        return out
    if not cv.attribute.value_per_locale:
        return [(None, raw)]
    if cv.locale == "*":
        return [(loc, raw) for loc in cv.active]
    if cv.locale is not None:
        return [(cv.locale, raw)]
    if raw is None:
        return []
    raise ValueProblem(
        f"the attribute is localizable: expected an object keyed by locale, got {show(raw)} "
        '(or set locale to a code or "*")'
    )


def _media(run: _Run, cv: CompiledValue, binary: Any) -> bool:
    attr, ch = cv.attribute, cv.channel
    if binary is None:
        return False
    if not isinstance(binary, BinaryRef):  # pragma: no cover - the binary getter gives a BinaryRef
        raise ValueProblem("the asset binary is unreadable")
    if attr.allowed_extensions and binary.filename:
        ext = binary.filename.rsplit(".", 1)[-1].lower() if "." in binary.filename else ""
        if ext not in {e.lower().lstrip(".") for e in attr.allowed_extensions}:
            allowed = ", ".join(attr.allowed_extensions)
            raise ValueProblem(f"file extension {ext!r} is not allowed ({allowed})")
    if attr.max_file_size and binary.size is not None:
        limit = float(attr.max_file_size) * 1_000_000
        if binary.size > limit:
            raise ValueProblem(f"{binary.size} bytes, over the {attr.max_file_size} MB limit")
    locales: Sequence[str | None] = [None]
    if attr.value_per_locale:
        locales = cv.active if cv.locale == "*" else [cv.locale]
    for loc in locales:
        request = MediaRequest(attr.code, loc, ch, binary)
        run.media.append(request)
        run.values.setdefault(attr.code, []).append(PimValue(request, loc, ch))
    return True


def _value(run: _Run, cv: CompiledValue) -> None:
    attr, ch = cv.attribute, cv.channel
    produced = False
    try:
        raw = cv.getter(run.asset)
        pairs: Sequence[tuple[str | None, Any]]
        if cv.binary:
            produced = _media(run, cv, raw)
            pairs = ()
        elif cv.plain and type(raw) is not dict:
            pairs = ((None, raw),)  # the common case, without the general fan-out's checks
        else:
            pairs = _fan_out(cv, raw)
    except ValueProblem as exc:
        run.fail(_field(attr.code, None, ch), exc.reason, attribute=attr.code, channel=ch)
        return
    convert = cv.convert
    code, transforms, sink = attr.code, cv.transforms, run.sink
    out: list[PimValue] | None = None
    for loc, value in pairs:
        try:
            for step in transforms:
                value = step(value)
            if value is None or value == "" or value == []:
                continue
            produced = True
            data = convert(value, sink) if convert is not None else value
        except ValueProblem as exc:
            produced = True
            details = {"attribute": code, "locale": loc, "channel": ch}
            run.fail(_field(code, loc, ch), exc.reason, **details)
            continue
        if out is None:
            out = run.values.setdefault(code, [])
        out.append(PimValue(data, loc, ch))
    if sink:
        run.missing.extend((code, option, label) for option, label in sink)
        sink.clear()
    if not produced and cv.required:
        run.fail(
            _field(attr.code, None, ch),
            f"required value is missing or empty (source {cv.source})",
            attribute=attr.code,
            channel=ch,
        )


class Mapper:
    """
    Maps DAM assets of one source with its rules, compiled once against the PIM structure.

    Args:
        rules: The source's mapping rules.
        families: The cached family structure by code (``daemon.models.AssetFamily``).
        channels: The PIM channels with their active locales.
    """

    def __init__(
        self,
        rules: SourceMapping,
        families: Mapping[str, AssetFamily],
        channels: Sequence[Channel],
    ) -> None:
        self.rules = rules
        self._plan = compile_mapping(rules, families, channels)

    def _rule(self, asset: DamAsset) -> CompiledFamily | Unmatched | MappingFailed:
        for rule in self._plan:
            if rule.matches(asset):
                return rule
        if self.rules.unmatched == "skip":
            return Unmatched(asset.id)
        error = MappingError(asset_id=asset.id, field="family", reason="no family rule matched")
        return MappingFailed(asset.id, None, (error,))

    def _code(self, run: _Run, rule: CompiledFamily) -> str:
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
        rule = self._rule(asset)
        if not isinstance(rule, CompiledFamily):
            return rule
        run = _Run(asset, rule.family)
        code = self._code(run, rule)
        if run.errors:
            return MappingFailed(asset.id, rule.family, tuple(run.errors))
        return AssetKey(rule.family, code)

    def map_asset(self, asset: DamAsset) -> MappingResult:
        """
        Map one asset, collecting every problem it has.

        Args:
            asset: The DAM asset.

        Returns:
            A :class:`MappedAsset`, :class:`Unmatched` or :class:`MappingFailed`.
        """
        rule = self._rule(asset)
        if not isinstance(rule, CompiledFamily):
            return rule
        run = _Run(asset, rule.family)
        for field, problem in rule.problems:
            run.fail(field, f"configuration problem at {problem.path}: {problem.message}")
        code = self._code(run, rule)
        for cv in rule.values:
            _value(run, cv)
        if run.errors:
            return MappingFailed(asset.id, rule.family, tuple(run.errors))
        pim = PimAsset(rule.family, code, {k: tuple(v) for k, v in run.values.items()})
        ids = {m: _binary_identity(m.binary, asset) for m in run.media}
        firsts: dict[tuple[str, str], str] = {}
        for attr, option, label in run.missing:
            firsts.setdefault((attr, option), label)
        missing = tuple(MissingOption(rule.family, a, c, label) for (a, c), label in firsts.items())
        return MappedAsset(asset.id, pim, tuple(run.media), missing, content_hash(pim, ids))


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
    values: dict[str, tuple[PimValue, ...]] = {}
    for attr, vals in mapped.asset.values.items():
        filled = []
        for v in vals:
            if isinstance(v.data, MediaRequest):
                if v.data not in codes:
                    raise MappingError(
                        asset_id=mapped.asset_id,
                        field=_field(attr, v.locale, v.channel),
                        reason="no media file code was given for this binary",
                    )
                v = PimValue(codes[v.data], v.locale, v.channel)
            filled.append(v)
        values[attr] = tuple(filled)
    return PimAsset(mapped.asset.family, mapped.asset.code, values)


__all__ = [
    "AssetKey",
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
