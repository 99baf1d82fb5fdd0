"""
A family's naming convention run on what damsync would send, as the PIM runs it at creation.

The PIM reads the asset ``code`` or the main media value (a media file's original filename, a
media link's data) for the convention's locale/channel, matches the ``pattern`` (PCRE with
named groups, unanchored) against it and fills each named group's attribute
(``akeneo-api.md`` §2). When it fails, ``abort_asset_creation_on_error: true`` refuses the
asset; otherwise the asset is created without the extracted values. ``validate-config`` uses
this to say, per sampled asset, whether the code template (or the filename damsync would
upload) gives what the pattern accepts, and what the product link rules will then read.

Pure: no I/O, no settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.core.records import AssetFamily, PimValue
from daemon.mapping.convert import build_converter, compile_pcre, show
from daemon.mapping.paths import ValueProblem
from daemon.mapping.results import MediaRequest

#: PCRE's named groups ``(?<name>`` and ``(?'name'`` (not lookbehinds ``(?<=``/``(?<!``).
_PCRE_GROUP = re.compile(r"\(\?(?:<(?![=!])|'([A-Za-z_][A-Za-z0-9_]*)')")
#: Attribute types a group may fill (§2).
GROUP_TYPES = ("text", "single_option", "number")


class PatternError(ValueError):
    """A convention's pattern that Python cannot run as the PIM would (the text says why)."""


def compile_convention_pattern(pattern: str) -> re.Pattern[str]:
    """
    Compile a naming convention's PCRE pattern (``/(?P<ref>.*)-.*/``) for Python's ``re``.

    PCRE's ``(?<name>...)`` and ``(?'name'...)`` become ``(?P<name>...)``, its ``\\z`` (absolute
    end) Python's ``\\Z``; flags ``i m s x u`` after the closing delimiter are honoured.

    Args:
        pattern: The pattern as the family stores it, with its delimiters.

    Returns:
        The compiled pattern.

    Raises:
        PatternError: no delimiters, an unknown flag or a syntax Python cannot read.
    """
    if len(pattern) < 2 or pattern[0].isalnum() or pattern[0] in "\\ ":
        raise PatternError(f"the pattern {pattern!r} needs delimiters, e.g. /(?P<ref>.*)-.*/")
    body = _PCRE_GROUP.sub(lambda m: f"(?P<{m.group(1)}>" if m.group(1) else "(?P<", pattern)
    body = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", body)
    try:
        return compile_pcre(body)
    except ValueError as exc:
        raise PatternError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class NamingConvention:
    """
    A family's naming convention.

    Args:
        source: ``code`` or the main media attribute's code.
        locale: The source value's locale (media attribute per locale), else ``None``.
        channel: The source value's channel, else ``None``.
        pattern: The PCRE pattern, delimiters included.
        abort: ``abort_asset_creation_on_error``: a failure refuses the asset.
    """

    source: str
    locale: str | None
    channel: str | None
    pattern: str
    abort: bool

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> NamingConvention | None:
        """The convention of a family's JSON, or ``None`` when it has none (``{}``)."""
        if not raw or not isinstance(raw.get("pattern"), str) or not raw.get("pattern"):
            return None
        where = raw.get("source")
        where = where if isinstance(where, Mapping) else {}
        return cls(
            source=str(where.get("property") or "code"),
            locale=_text_or_none(where.get("locale")),
            channel=_text_or_none(where.get("channel")),
            pattern=str(raw["pattern"]),
            abort=raw.get("abort_asset_creation_on_error") is True,
        )

    @property
    def reads_code(self) -> bool:
        return self.source == "code"


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class SampledAsset:
    """
    One DAM asset as damsync would create it in the PIM.

    Args:
        asset_id: The DAM id.
        code: The asset code the code template gives.
        values: The mapped values; a ``media_file`` value holds its :class:`MediaRequest`.
        family: Its asset family.
    """

    asset_id: str
    code: str
    values: Mapping[str, Sequence[PimValue]] = field(default_factory=dict)
    family: str = ""


@dataclass(frozen=True, slots=True)
class Extraction:
    """
    What the naming convention does with one asset.

    Args:
        what: What was matched: ``code`` or ``main media filename``/``main media value``.
        text: The matched text (``None`` when there was none).
        groups: The extracted attribute values (empty when the convention failed).
        problem: Why the convention fails for this asset, else ``None``.
    """

    what: str
    text: str | None
    groups: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None


def run_convention(
    convention: NamingConvention, family: AssetFamily, asset: SampledAsset
) -> Extraction:
    """
    Run the convention on an asset as the PIM would at its creation.

    Args:
        convention: The family's naming convention (its pattern compiles: see
            :func:`compile_convention_pattern`).
        family: The family structure (group attributes, their types and options).
        asset: The asset as damsync would send it.

    Returns:
        The extraction; a failure has ``problem`` set and no ``groups``.

    Raises:
        PatternError: the pattern cannot be run.
    """
    pattern = convention.pattern
    what, text, problem = _source_text(convention, family, asset)
    if text is None:
        return Extraction(what, None, problem=f"{problem} (naming convention pattern {pattern!r})")
    found = compile_convention_pattern(pattern).search(text)
    if found is None:
        return Extraction(
            what, text, problem=f"does not match the naming convention pattern {pattern!r}"
        )
    groups: dict[str, str] = {}
    for group, value in found.groupdict().items():
        if not value:
            continue  # an empty group extracts nothing
        attribute = family.attributes.get(group)
        if (
            attribute is None
            or attribute.type not in GROUP_TYPES
            or attribute.value_per_locale
            or attribute.value_per_channel
        ):
            reason = (
                f"its group {group!r} is not a text, single_option or number attribute of "
                f"{family.code!r} without locale or channel"
            )
        else:
            try:
                build_converter(attribute, family)(value, [])
                groups[group] = value
                continue
            except (ValueProblem, ValueError) as exc:
                reason = (
                    f"the value {value!r} extracted for {group!r} is refused: "
                    f"{getattr(exc, 'reason', str(exc))}"
                )
        return Extraction(
            what, text, problem=f"matches the naming convention pattern {pattern!r} but {reason}"
        )
    return Extraction(what, text, groups)


def _source_text(
    convention: NamingConvention, family: AssetFamily, asset: SampledAsset
) -> tuple[str, str | None, str | None]:
    if convention.reads_code:
        return "code", asset.code, None
    attribute = family.attributes.get(convention.source)
    kind = attribute.type if attribute is not None else "?"
    what = "main media filename" if kind == "media_file" else "main media value"
    value = next(
        (
            v.data
            for v in asset.values.get(convention.source, ())
            if v.locale == convention.locale and v.channel == convention.channel
        ),
        None,
    )
    scope = _scope(convention.locale, convention.channel)
    if value is None:
        return what, None, f"the mapping gives no {convention.source!r}{scope} value to read"
    if isinstance(value, MediaRequest):
        name = value.binary.filename
        if not name:
            return (
                what,
                None,
                "the DAM gives no filename: damsync would upload the file under a generated "
                "name (damsync-...)",
            )
        return what, name, None
    return what, str(value), None


def _scope(locale: str | None, channel: str | None) -> str:
    parts = [f"locale {locale}" if locale else "", f"channel {channel}" if channel else ""]
    shown = ", ".join(p for p in parts if p)
    return f" ({shown})" if shown else ""


def readable_values(asset: SampledAsset, extraction: Extraction | None) -> dict[str, Any]:
    """
    The attribute values the family's link rules can read once the asset is created.

    The extracted groups, then the values damsync sends without locale or channel (which win,
    as a value sent explicitly does in the PIM simulator); media files are left out (their
    code is known only once uploaded).

    Args:
        asset: The asset as damsync would send it.
        extraction: The naming convention's result, ``None`` without a convention.

    Returns:
        Attribute code -> text (or list of texts for multiple options).
    """
    readable: dict[str, Any] = dict(extraction.groups) if extraction is not None else {}
    for attribute, values in asset.values.items():
        for value in values:
            if value.locale is None and value.channel is None:
                if isinstance(value.data, MediaRequest) or value.data is None:
                    continue
                data = value.data
                readable[attribute] = (
                    [str(d) for d in data] if isinstance(data, list) else str(data)
                )
    return readable


def describe(extraction: Extraction) -> str:
    """The extraction's failure as a phrase: ``code 'x' does not match ...``."""
    if extraction.text is None:
        return f"{extraction.what}: {extraction.problem}"
    return f"{extraction.what} {show(extraction.text, 120)} {extraction.problem}"


__all__ = [
    "GROUP_TYPES",
    "Extraction",
    "NamingConvention",
    "PatternError",
    "SampledAsset",
    "compile_convention_pattern",
    "describe",
    "readable_values",
    "run_convention",
]
