"""
Compile mapping rules against the live family structure, once, into a fast plan.

The plan holds ready-made predicates, getters, transforms and converters, so that mapping an
asset does no parsing. Every mismatch between the rules and the PIM structure (unknown family or
attribute, wrong source for the type, unknown locale or channel, ...) becomes a problem with its
config path: :func:`~daemon.mapping.validate.validate_rules` reports them, and the mapper refuses
(per asset, naming the problem) the assets whose family rule has one.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.core.records import AssetAttribute, AssetFamily, Channel, DamAsset
from daemon.mapping.codes import option_code
from daemon.mapping.convert import SUPPORTED_TYPES, Converter, build_converter
from daemon.mapping.file_refs import FileReader, file_reader
from daemon.mapping.paths import (
    Getter,
    Transform,
    ValueProblem,
    compile_path,
    compile_template,
    compile_transform,
    is_empty,
    text_of,
)
from daemon.mapping.results import ManagedScope, ValueKey
from daemon.mapping.rules import (
    AttributeRule,
    FamilyRule,
    FieldCondition,
    FileKeys,
    SourceMapping,
    ValueSource,
)

Predicate = Callable[[DamAsset], bool]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """A rule that does not fit the PIM structure; ``path`` is its config path."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class CompiledValue:
    """One (attribute, channel) value source, ready to run."""

    attribute: AssetAttribute
    channel: str | None
    getter: Getter
    binary: bool
    transforms: tuple[Transform, ...]
    convert: Converter | None
    active: tuple[str, ...]
    active_set: frozenset[str]
    renames: Mapping[str, str]
    locale: str | None
    pick_keys: tuple[str, ...]
    required: bool
    source: str
    plain: bool  # neither localizable nor picking a locale: the value is used as it is
    file: FileReader | None = None  # a `file` source: DAM files become media requests
    file_keys: FileKeys = FileKeys()
    labels: Getter | None = None  # `option_labels`: localized labels of created options
    label_locales: frozenset[str] = frozenset()  # every active locale, for option labels


@dataclass(frozen=True, slots=True)
class CompiledFamily:
    """One family rule: its match, code template, values and the problems found compiling."""

    family: str
    predicates: tuple[Predicate, ...]
    code: Getter
    values: tuple[CompiledValue, ...]
    problems: tuple[tuple[str, ConfigProblem], ...]
    scope: ManagedScope = ManagedScope()

    def matches(self, asset: DamAsset) -> bool:
        """
        Tell whether the asset meets every condition of the rule.

        Args:
            asset: The DAM asset.

        Returns:
            ``True`` when the rule applies.
        """
        return all(p(asset) for p in self.predicates)


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if item is not None and not isinstance(item, Mapping | list | tuple):
            out.append(text_of(item))
    return out


def _condition(cond: FieldCondition) -> Predicate:
    get = compile_path(cond.field)
    if cond.exists is not None:
        wanted = cond.exists
        return lambda a: (not is_empty(get(a))) == wanted
    if cond.regex is not None:
        regex = re.compile(cond.regex)
        return lambda a: any(regex.search(t) for t in _texts(get(a)))
    choices = {text_of(v) for v in (cond.in_ if cond.in_ is not None else [cond.equals])}
    return lambda a: any(t in choices for t in _texts(get(a)))


def _predicates(rule: FamilyRule, mapping: SourceMapping) -> tuple[Predicate, ...]:
    match = rule.match
    out: list[Predicate] = []
    if match.type:
        get_type, types = compile_path(mapping.type_field), set(match.type)
        out.append(lambda a: any(t in types for t in _texts(get_type(a))))
    if match.mime_type:
        mimes = re.compile("|".join(fnmatch.translate(m.lower()) for m in match.mime_type))
        out.append(
            lambda a: a.binary is not None and bool(mimes.match((a.binary.mime_type or "").lower()))
        )
    if match.path:
        get_path = compile_path(mapping.path_field)
        globs = re.compile("|".join(fnmatch.translate(p) for p in match.path))
        out.append(lambda a: any(globs.match(t) for t in _texts(get_path(a))))
    if match.tags_any or match.tags_all:
        get_tags = compile_path(mapping.tags_field)
        any_of = {t.casefold() for t in match.tags_any}
        all_of = {t.casefold() for t in match.tags_all}

        def tags(a: DamAsset) -> bool:
            have = {t.casefold() for t in _texts(get_tags(a))}
            return (not any_of or bool(any_of & have)) and all_of <= have

        out.append(tags)
    out.extend(_condition(c) for c in match.fields)
    return tuple(out)


def _getter(src: ValueSource) -> Getter:
    if src.path is not None:
        return compile_path(src.path)
    if src.template is not None:
        return compile_template(src.template)
    if src.binary:
        return lambda a: a.binary
    if src.file is not None:
        return compile_path(src.file)
    constant = src.value
    return lambda a: constant


class _Compiler:
    """Builds the plan of one source mapping and collects its problems."""

    def __init__(
        self, rules: SourceMapping, families: Mapping[str, AssetFamily], channels: Sequence[Channel]
    ) -> None:
        self.rules = rules
        self.families = families
        self.channels = {c.code: c for c in channels}
        self.all_locales = tuple(sorted({loc for c in channels for loc in c.locales}))
        self.problems: list[tuple[str, ConfigProblem]] = []

    def problem(self, field: str, path: str, message: str) -> None:
        self.problems.append((field, ConfigProblem(path, message)))

    def family(self, index: int, rule: FamilyRule) -> CompiledFamily:
        self.problems = []
        base = f"families[{index}]"
        family = self.families.get(rule.family)
        values: list[CompiledValue] = []
        if family is None:
            self.problem("family", f"{base}.family", f"asset family {rule.family!r} does not exist")
        else:
            for code, attr_rule in rule.attributes.items():
                values.extend(self.attribute(family, code, attr_rule, f"{base}.attributes.{code}"))
        return CompiledFamily(
            family=rule.family,
            predicates=_predicates(rule, self.rules),
            code=compile_template(rule.code),
            values=tuple(values),
            problems=tuple(dict.fromkeys(self.problems)),
            scope=self.scope(rule, values),
        )

    def scope(self, rule: FamilyRule, values: Sequence[CompiledValue]) -> ManagedScope:
        """
        Every value the rule's mapped attributes may hold in the PIM, erasable or kept.

        The keys are those the PIM accepts today (existing channels, their active locales),
        not only those the rule fills: a value written before the rule changed its locales is
        still erased, but a null is never sent for a locale or channel the PIM would refuse.
        """
        erasable: set[ValueKey] = set()
        kept: set[ValueKey] = set()
        attributes = {cv.attribute.code: cv.attribute for cv in values}
        for code, attr in attributes.items():
            own = rule.attributes[code].clear_missing
            target = erasable if (rule.clear_missing if own is None else own) else kept
            channels: tuple[str | None, ...] = (None,)
            if attr.value_per_channel:
                channels = tuple(self.channels)
            for ch in channels:
                locales: tuple[str | None, ...] = (None,)
                if attr.value_per_locale:
                    locales = self.channels[ch].locales if ch is not None else self.all_locales
                target.update((code, loc, ch) for loc in locales)
        return ManagedScope(frozenset(erasable), frozenset(kept))

    def attribute(
        self, family: AssetFamily, code: str, rule: AttributeRule, path: str
    ) -> list[CompiledValue]:
        attr = family.attributes.get(code)
        if attr is None:
            self.problem(code, path, f"attribute {code!r} does not exist in family {family.code!r}")
            return []
        if attr.type not in SUPPORTED_TYPES:
            self.problem(code, path, f"attribute type {attr.type!r} is not supported")
            return []
        targets: list[tuple[str | None, ValueSource, str]] = []
        if not attr.value_per_channel:
            if rule.channel is not None or rule.channels:
                self.problem(code, path, f"attribute {code!r} is not scopable: remove channel(s)")
            targets = [(None, rule, path)]
        elif rule.channels:
            for ch, src in rule.channels.items():
                if ch not in self.channels:
                    self.problem(code, f"{path}.channels.{ch}", f"channel {ch!r} does not exist")
                else:
                    targets.append((ch, src, f"{path}.channels.{ch}"))
        elif rule.channel == "*":
            targets = [(ch, rule, path) for ch in self.channels]
        elif rule.channel is not None:
            if rule.channel not in self.channels:
                self.problem(code, f"{path}.channel", f"channel {rule.channel!r} does not exist")
            else:
                targets = [(rule.channel, rule, path)]
        else:
            self.problem(
                code, path, 'attribute is scopable: set channel (a code or "*") or channels'
            )
        return [v for t in targets if (v := self.value(family, attr, *t)) is not None]

    def value(
        self, family: AssetFamily, attr: AssetAttribute, ch: str | None, src: ValueSource, path: str
    ) -> CompiledValue | None:
        code, before = attr.code, len(self.problems)
        active = self.channels[ch].locales if ch is not None else self.all_locales
        is_media = attr.type == "media_file"
        if (src.binary or src.file is not None) and not is_media:
            what = "binary = true" if src.binary else "file"
            self.problem(code, path, f"{what} needs a media_file attribute, not {attr.type}")
        if is_media and not (src.binary or src.file is not None):
            self.problem(code, path, "a media_file attribute takes the asset binary: binary = true")
        is_option = attr.type in ("single_option", "multiple_options")
        if src.option_labels is not None and not is_option:
            self.problem(code, f"{path}.option_labels", "option_labels needs an option attribute")
        self.locale_checks(attr, src, active, path)
        convert = None
        if not is_media:
            try:
                convert = build_converter(
                    attr,
                    family,
                    options=src.options,
                    decimal_separator=src.decimal_separator,
                    create_missing_options=self.rules.create_missing_options,
                )
            except ValueError as exc:
                self.problem(code, path, str(exc))
        if is_option:
            self.option_policy(family, attr, src, path)
        transforms = tuple(
            compile_transform(s if isinstance(s, str) else s.model_dump(by_alias=True))
            for s in src.transform
        )
        if convert is not None and src.value is not None:
            value: Any = src.value
            try:
                for step in transforms:
                    value = step(value)
                convert(value, [])
            except ValueProblem as exc:
                self.problem(code, f"{path}.value", exc.reason)
        if len(self.problems) > before:
            return None
        picks = tuple(k for k, v in src.locales.items() if v == src.locale) + (src.locale or "",)
        return CompiledValue(
            attribute=attr,
            channel=ch,
            getter=_getter(src),
            binary=src.binary,
            transforms=transforms,
            convert=convert,
            active=active,
            active_set=frozenset(active),
            renames=src.locales,
            locale=src.locale,
            pick_keys=picks,
            required=src.required,
            source=src.path or src.template or src.file or ("binary" if src.binary else "value"),
            plain=not attr.value_per_locale and src.locale is None,
            file=file_reader(src.file_keys) if src.file is not None else None,
            file_keys=src.file_keys,
            labels=compile_path(src.option_labels) if src.option_labels is not None else None,
            label_locales=frozenset(self.all_locales),
        )

    def locale_checks(
        self, attr: AssetAttribute, src: ValueSource, active: tuple[str, ...], path: str
    ) -> None:
        code = attr.code
        if src.locale == "*" and not attr.value_per_locale:
            self.problem(code, f"{path}.locale", 'locale = "*" needs a localizable attribute')
        elif src.locale not in (None, "*") and src.locale not in active:
            self.problem(code, f"{path}.locale", f"locale {src.locale!r} is not active")
        for dam, pim in src.locales.items():
            if pim not in active:
                self.problem(code, f"{path}.locales.{dam}", f"locale {pim!r} is not active")
        if attr.value_per_locale:
            if not active:
                self.problem(code, path, "no active locale for this localizable attribute")
            if src.locale is None and (src.binary or src.value is not None):
                self.problem(code, f"{path}.locale", 'localizable: set locale (a code or "*")')

    def option_policy(
        self, family: AssetFamily, attr: AssetAttribute, src: ValueSource, path: str
    ) -> None:
        if self.rules.create_missing_options:
            return
        known = {c.lower() for c in family.options.get(attr.code, frozenset())}
        if not known:
            self.problem(
                attr.code,
                path,
                "the attribute has no options in the PIM and create_missing_options is false: "
                "every value would be refused",
            )
        for dam, target in src.options.items():
            try:
                normal = option_code(target)
            except ValueError as exc:
                self.problem(attr.code, f"{path}.options.{dam}", str(exc))
                continue
            if known and normal not in known:
                self.problem(
                    attr.code, f"{path}.options.{dam}", f"option {target!r} does not exist"
                )


def compile_mapping(
    rules: SourceMapping, families: Mapping[str, AssetFamily], channels: Sequence[Channel]
) -> list[CompiledFamily]:
    """
    Compile every family rule, in order.

    Args:
        rules: The source's mapping rules.
        families: The cached family structure, by family code.
        channels: The PIM channels with their active locales.

    Returns:
        One compiled rule per family rule; problems sit on each, with relative config paths.
    """
    compiler = _Compiler(rules, families, channels)
    return [compiler.family(i, rule) for i, rule in enumerate(rules.families)]


__all__ = ["CompiledFamily", "CompiledValue", "ConfigProblem", "compile_mapping"]
