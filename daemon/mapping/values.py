"""
The reference mapping of one compiled value: straightforward, general, and the fallback.

:func:`map_value` handles every shape a rule allows (fan-out over locales, picked locales,
media, transforms, conversion) and turns each problem into a per-asset error. The fast steps of
:mod:`daemon.mapping.fast` handle the common shapes and hand anything unusual (and every error)
to it, so both always give the same result; ``tests/mapping/test_fast.py`` checks that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.core.errors import MappingError
from daemon.core.records import BinaryRef, DamAsset, PimValue
from daemon.mapping.convert import show
from daemon.mapping.file_refs import is_file
from daemon.mapping.option_labels import Labels, localized_labels
from daemon.mapping.paths import ValueProblem
from daemon.mapping.plan import CompiledValue
from daemon.mapping.results import MediaRequest


def field_name(attribute: str, locale: str | None, channel: str | None) -> str:
    """
    Name one value of an attribute for an error: ``title[locale=fr_FR,channel=print]``.

    Args:
        attribute: The attribute code.
        locale: Its locale, if any.
        channel: Its channel, if any.

    Returns:
        The field name.
    """
    scope = [f"locale={locale}"] * (locale is not None) + [f"channel={channel}"] * (
        channel is not None
    )
    return f"{attribute}[{','.join(scope)}]" if scope else attribute


class Run:
    """The mutable state of mapping one asset."""

    __slots__ = ("asset", "errors", "family", "media", "missing", "sink", "values")

    def __init__(self, asset: DamAsset, family: str) -> None:
        self.asset = asset
        self.family = family
        self.errors: list[MappingError] = []
        self.values: dict[str, list[PimValue]] = {}
        self.media: list[MediaRequest] = []
        self.missing: list[tuple[str, str, str, Labels]] = []
        self.sink: list[tuple[str, str]] = []  # (option code, label) of the current attribute

    def fail(self, field: str, reason: str, **details: Any) -> None:
        """
        Record one problem of the asset.

        Args:
            field: The field it concerns.
            reason: Why.
            details: More context for the error.
        """
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
    if raw is None or raw == "" or raw == []:
        return []  # no value: nothing to fan out, not a shape problem
    raise ValueProblem(
        f"the attribute is localizable: expected an object keyed by locale, got {show(raw)} "
        '(or set locale to a code or "*")'
    )


def _file_pairs(cv: CompiledValue, raw: Any) -> list[tuple[str | None, Any]]:
    """Pair the files of a ``file`` source with their locales: one file, or files by locale."""
    if raw is None or raw == "" or raw == []:
        return []
    if not (is_file(raw, cv.file_keys) or isinstance(raw, list)):
        return _fan_out(cv, raw)  # files keyed by locale
    if not cv.attribute.value_per_locale:
        return [(None, raw)]
    if cv.locale == "*":
        return [(loc, raw) for loc in cv.active]
    if cv.locale is not None:
        return [(cv.locale, raw)]
    raise ValueProblem(
        "the attribute is localizable: expected files keyed by locale, got one file "
        '(or set locale to a code or "*")'
    )


def check_binary(cv: CompiledValue, binary: BinaryRef) -> None:
    """
    Check a binary against its media_file attribute: extension and size, when known.

    Raises:
        ValueProblem: an extension the attribute refuses, or a file over its size limit.
    """
    attr = cv.attribute
    if attr.allowed_extensions and binary.filename:
        ext = binary.filename.rsplit(".", 1)[-1].lower() if "." in binary.filename else ""
        if ext not in {e.lower().lstrip(".") for e in attr.allowed_extensions}:
            allowed = ", ".join(attr.allowed_extensions)
            raise ValueProblem(f"file extension {ext!r} is not allowed ({allowed})")
    if attr.max_file_size and binary.size is not None:
        try:
            limit = float(attr.max_file_size) * 1_000_000
        except ValueError:  # not a number of MB: the PIM checks the file when it is assigned
            return
        if binary.size > limit:
            raise ValueProblem(f"{binary.size} bytes, over the {attr.max_file_size} MB limit")


def _media(run: Run, cv: CompiledValue, binary: Any) -> bool:
    attr, ch = cv.attribute, cv.channel
    if binary is None:
        return False
    if not isinstance(binary, BinaryRef):  # pragma: no cover - the binary getter gives a BinaryRef
        raise ValueProblem("the asset binary is unreadable")
    check_binary(cv, binary)
    locales: Sequence[str | None] = [None]
    if attr.value_per_locale:
        locales = cv.active if cv.locale == "*" else [cv.locale]
    for loc in locales:
        request = MediaRequest(attr.code, loc, ch, binary)
        run.media.append(request)
        run.values.setdefault(attr.code, []).append(PimValue(request, loc, ch))
    return True


def _file_request(run: Run, cv: CompiledValue, loc: str | None, value: Any) -> MediaRequest:
    """One DAM file of a ``file`` source as a media request of its locale and channel."""
    assert cv.file is not None
    binary = cv.file(value)
    check_binary(cv, binary)
    request = MediaRequest(cv.attribute.code, loc, cv.channel, binary)
    run.media.append(request)
    return request


def _flush_missing(run: Run, cv: CompiledValue) -> None:
    """Move the options to create out of the sink, with their labels by locale when given."""
    labels = None if cv.labels is None else cv.labels(run.asset)
    single = cv.attribute.type == "single_option"
    for option, label in run.sink:
        given: Labels = ()
        if labels is not None:
            given = localized_labels(
                labels, label, single=single, renames=cv.renames, active=cv.label_locales
            )
        run.missing.append((cv.attribute.code, option, label, given))
    run.sink.clear()


def map_value(run: Run, cv: CompiledValue) -> None:
    """
    Map one compiled value of the asset into ``run``: its values, media, missing options, errors.

    Args:
        run: The state of the asset being mapped.
        cv: The compiled value.
    """
    attr, ch = cv.attribute, cv.channel
    produced = False
    try:
        raw = cv.getter(run.asset)
        pairs: Sequence[tuple[str | None, Any]]
        if cv.binary:
            produced = _media(run, cv, raw)
            pairs = ()
        elif cv.file is not None:
            pairs = _file_pairs(cv, raw)
        elif cv.plain and type(raw) is not dict:
            pairs = ((None, raw),)  # the common case, without the general fan-out's checks
        else:
            pairs = _fan_out(cv, raw)
    except ValueProblem as exc:
        run.fail(field_name(attr.code, None, ch), exc.reason, attribute=attr.code, channel=ch)
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
            data: Any
            if cv.file is not None:
                data = _file_request(run, cv, loc, value)
            else:
                data = convert(value, sink) if convert is not None else value
        except ValueProblem as exc:
            produced = True
            details = {"attribute": code, "locale": loc, "channel": ch}
            run.fail(field_name(code, loc, ch), exc.reason, **details)
            continue
        # Conversion may leave nothing (blank option labels, text of control characters only):
        # no value either, so that the managed-value diff erases what was there.
        if data is None or data == "" or data == []:
            continue
        produced = True
        if out is None:
            out = run.values.setdefault(code, [])
        out.append(PimValue(data, loc, ch))
    if sink:
        _flush_missing(run, cv)
    if not produced and cv.required:
        run.fail(
            field_name(attr.code, None, ch),
            f"required value is missing or empty (source {cv.source})",
            attribute=attr.code,
            channel=ch,
        )


__all__ = ["Run", "check_binary", "field_name", "map_value"]
