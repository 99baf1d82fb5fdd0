"""
Fast steps: each compiled value specialised, once, into a closure doing only what its rule needs.

A step maps one value of one asset into a :class:`~daemon.mapping.values.Run`. The three common
shapes get their own step: a plain value (neither localizable nor picking a locale), a
localizable value read from an object keyed by locale, and the asset binary. Each runs
optimistically and keeps its results local; on anything unusual (an unexpected shape, a
missing required value, any :class:`~daemon.mapping.paths.ValueProblem`) it drops them and runs
the reference :func:`~daemon.mapping.values.map_value`, which reports the problem. So a step
gives exactly the reference's result, only sooner; other shapes use the reference directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daemon.core.records import BinaryRef, PimValue
from daemon.mapping.paths import Transform, ValueProblem
from daemon.mapping.plan import CompiledValue
from daemon.mapping.results import MediaRequest
from daemon.mapping.values import Run, map_value

Step = Callable[[Run], None]

# Values of a closed vocabulary (booleans, single options) repeat across assets: the frozen
# PimValue is shared instead of built again. The bound keeps free-text option values in check.
_SHARED_LIMIT = 1024
_FALLBACK: Any = object()
_NOTHING: Any = object()


def _empty(value: Any) -> bool:
    """
    No value: ``None``, ``""`` or ``[]``, as the reference tests it.

    Only falsy values can be one, so the steps test ``not value and _empty(value)``: a text or a
    list of codes (the usual values) costs one truth test, not three comparisons.
    """
    return value is None or value == "" or value == []


def _chain(transforms: tuple[Transform, ...]) -> Transform | None:
    if not transforms:
        return None
    if len(transforms) == 1:
        return transforms[0]

    def chain(value: Any) -> Any:
        for step in transforms:
            value = step(value)
        return value

    return chain


def _shared(cv: CompiledValue) -> dict[Any, PimValue] | None:
    return {} if cv.attribute.type in ("boolean", "single_option") else None


def _flush_sink(run: Run, code: str) -> None:
    sink = run.sink
    run.missing.extend((code, option, label, ()) for option, label in sink)
    sink.clear()


def _plain(cv: CompiledValue) -> Step:
    code, ch, required = cv.attribute.code, cv.channel, cv.required
    getter, convert, transform = cv.getter, cv.convert, _chain(cv.transforms)
    shared = _shared(cv)

    def step(run: Run) -> None:
        try:
            value = getter(run.asset)
            if type(value) is dict:  # an error, or a pick: the reference says which
                value = _FALLBACK
            else:
                if transform is not None:
                    value = transform(value)
                if convert is not None and (value or not _empty(value)):
                    value = convert(value, run.sink)
                # Empty before or after conversion (blank option labels): no value.
                # A conversion giving nothing reports no missing option, so no sink to flush.
                if not value and _empty(value):
                    value = _FALLBACK if required else _NOTHING
        except ValueProblem:
            value = _FALLBACK
        if value is _FALLBACK:
            run.sink.clear()
            map_value(run, cv)
            return
        if value is _NOTHING:
            return
        if shared is not None:
            pim = shared.get(value)
            if pim is None:
                pim = PimValue(value, None, ch)
                if len(shared) < _SHARED_LIMIT:
                    shared[value] = pim
        else:
            pim = PimValue(value, None, ch)
        values = run.values.get(code)
        if values is None:
            run.values[code] = [pim]
        else:
            values.append(pim)
        if run.sink:
            _flush_sink(run, code)

    return step


def _locale_pairs(cv: CompiledValue) -> Callable[[dict[str, Any]], list[tuple[str, Any]] | None]:
    """Pair each key of an object with its active locale; ``None`` when two give the same."""
    active = cv.active_set
    # Renames of a key to itself change nothing: without any other, no two keys can collide.
    renames = {} if all(k == v for k, v in cv.renames.items()) else dict(cv.renames)

    def plain(raw: dict[str, Any]) -> list[tuple[str, Any]] | None:
        return [(key, value) for key, value in raw.items() if key in active]

    def renamed(raw: dict[str, Any]) -> list[tuple[str, Any]] | None:
        out = []
        seen: set[str] = set()
        for key, value in raw.items():
            loc = renames.get(key, key)
            if loc in active:
                if loc in seen:
                    return None
                seen.add(loc)
                out.append((loc, value))
        return out

    # Without renames the keys are distinct: no two can give the same locale.
    return renamed if renames else plain


def _by_locale(cv: CompiledValue) -> Step:
    code, ch, required = cv.attribute.code, cv.channel, cv.required
    getter, convert, transform = cv.getter, cv.convert, _chain(cv.transforms)
    pairs = _locale_pairs(cv)

    def step(run: Run) -> None:
        out: list[PimValue] = []
        try:
            raw = getter(run.asset)
            if (raw is None or raw == "" or raw == []) and not required:
                return  # no value at all, as the reference's fan-out finds
            found = pairs(raw) if type(raw) is dict else None
            if found is None:
                raise ValueProblem("")
            for loc, value in found:
                if transform is not None:
                    value = transform(value)
                if not value and _empty(value):
                    continue
                if convert is not None:
                    value = convert(value, run.sink)
                    if not value and _empty(value):
                        continue
                out.append(PimValue(value, loc, ch))
            if required and not out:
                raise ValueProblem("")
        except ValueProblem:
            run.sink.clear()
            map_value(run, cv)
            return
        if out:
            values = run.values.get(code)
            if values is None:
                run.values[code] = out
            else:
                values.extend(out)
        if run.sink:
            _flush_sink(run, code)

    return step


def _binary(cv: CompiledValue) -> Step:
    attr, ch, getter = cv.attribute, cv.channel, cv.getter
    code, required = attr.code, cv.required
    allowed = frozenset(e.lower().lstrip(".") for e in attr.allowed_extensions)
    try:
        limit = float(attr.max_file_size) * 1_000_000 if attr.max_file_size else None
    except ValueError:  # the reference reports it per asset
        return lambda run: map_value(run, cv)
    locales: tuple[str | None, ...] = (None,)
    if attr.value_per_locale:
        locales = cv.active if cv.locale == "*" else (cv.locale,)

    def step(run: Run) -> None:
        try:
            binary = getter(run.asset)
        except ValueProblem:
            binary = _FALLBACK
        if type(binary) is not BinaryRef:
            if binary is not None or required:
                map_value(run, cv)
            return
        name = binary.filename
        if allowed and name:
            if (name.rsplit(".", 1)[-1].lower() if "." in name else "") not in allowed:
                map_value(run, cv)
                return
        if limit is not None and binary.size is not None and binary.size > limit:
            map_value(run, cv)
            return
        values = run.values.get(code)
        if values is None:
            values = run.values[code] = []
        for loc in locales:
            request = MediaRequest(code, loc, ch, binary)
            run.media.append(request)
            values.append(PimValue(request, loc, ch))

    return step


def compile_step(cv: CompiledValue) -> Step:
    """
    Specialise one compiled value into its step.

    Args:
        cv: The compiled value.

    Returns:
        A function mapping that value of an asset into a run, exactly as
        :func:`~daemon.mapping.values.map_value` would.
    """
    if cv.binary:
        return _binary(cv)
    if cv.file is not None or cv.labels is not None:
        return lambda run: map_value(run, cv)  # DAM files, localized option labels: rarer
    if cv.plain:
        return _plain(cv)
    if cv.attribute.value_per_locale and cv.locale is None:
        return _by_locale(cv)
    return lambda run: map_value(run, cv)


__all__ = ["Step", "compile_step"]
