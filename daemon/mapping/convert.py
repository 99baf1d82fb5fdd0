"""
Value conversion by the PIM attribute's real type, checked before anything is sent.

One converter is built per (rule, attribute) from the cached family structure; it turns one DAM
value into Akeneo's ``data`` or raises :class:`~daemon.mapping.paths.ValueProblem` with the
reason. Choices (documented in ``docs/mapping.md``): control characters are *stripped* from text
(tabs and line breaks too, outside text areas, where they become spaces); numbers are sent as
canonical decimal strings; dates as ``YYYY-MM-DDT00:00:00+00:00`` using the date as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from daemon.core.records import AssetAttribute, AssetFamily
from daemon.mapping.codes import option_code
from daemon.mapping.option_codes import codes_of, remembered
from daemon.mapping.paths import ValueProblem, compile_pcre, text_of

MissingSink = list[tuple[str, str]]
Converter = Callable[[Any, MissingSink], Any]

SUPPORTED_TYPES = frozenset(
    {
        "text",
        "number",
        "single_option",
        "multiple_options",
        "boolean",
        "date",
        "media_link",
        "media_file",
        "record",
    }
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BREAKS = re.compile(r"[\t\r\n]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = {
    ".": re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"),
    ",": re.compile(r"^[+-]?(\d+(,\d*)?|,\d+)([eE][+-]?\d+)?$"),
}
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


def show(value: Any, limit: int = 60) -> str:
    """
    Quote a DAM value for an error message: short, and without a URL's query string.

    Args:
        value: The value.
        limit: Longest text shown.

    Returns:
        A ``repr``-like excerpt; query strings (which may hold signatures) are cut off.
    """
    text = value if isinstance(value, str) else repr(value)
    if "://" in text and "?" in text:
        text = text.split("?", 1)[0] + "?..."
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _clean_text(value: Any, textarea: bool) -> str:
    text = text_of(value)
    if text.isprintable():  # fast path: no control characters, tabs or line breaks
        return text
    text = _CONTROL.sub("", text)
    return text if textarea else _BREAKS.sub(" ", text)


def _text(attr: AssetAttribute) -> Converter:
    limit = int(attr.max_characters) if attr.max_characters else None
    rule = attr.validation_rule or "none"
    pattern = compile_pcre(attr.validation_regexp or "") if rule == "regexp" else None
    textarea = attr.is_textarea

    def convert(value: Any, missing: MissingSink) -> Any:
        text = _clean_text(value, textarea)
        if limit is not None and len(text) > limit:
            raise ValueProblem(f"{len(text)} characters, more than the maximum {limit}")
        if rule == "email" and not _EMAIL.match(text):
            raise ValueProblem(f"{show(text)} is not an email address")
        if rule == "url":
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueProblem(f"{show(text)} is not an http(s) URL")
        if pattern is not None and not pattern.search(text):
            raise ValueProblem(f"{show(text)} does not match the regexp {attr.validation_regexp!r}")
        return text

    if rule in ("email", "url", "regexp"):
        return convert
    # No validation rule (the usual case): printable text within the limit is sent as it is.
    # Anything else takes the full path, which cleans it and names the problem.

    def unlimited(value: Any, missing: MissingSink) -> Any:
        if type(value) is str and value.isprintable():
            return value
        return convert(value, missing)

    def limited(value: Any, missing: MissingSink) -> Any:
        if type(value) is str and len(value) <= most and value.isprintable():
            return value
        return convert(value, missing)

    most = limit if limit is not None else 0
    return unlimited if limit is None else limited


def parse_decimal(value: Any, separator: str = ".") -> Decimal:
    """
    Read a number without depending on the process locale.

    Args:
        value: An int, a float or a string such as ``"12.5"`` (``"12,5"`` with separator ``,``).
        separator: The decimal separator strings use; thousands separators are refused.

    Returns:
        The exact decimal.

    Raises:
        ValueProblem: a boolean, NaN, infinity or unreadable text.
    """
    if isinstance(value, bool):
        raise ValueProblem(f"expected a number, got the boolean {value}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblem(f"{value!r} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER[separator].match(text):
            return Decimal(text.replace(",", "."))
        hint = ' (set decimal_separator = ",")' if "," in text and separator == "." else ""
        raise ValueProblem(f"{show(value)} is not a number{hint}")
    raise ValueProblem(f"expected a number, got {show(value)}")


def decimal_text(number: Decimal) -> str:
    """
    Write a decimal the canonical way: no exponent, no trailing zeros, ``-0`` as ``0``.

    Args:
        number: A finite decimal.

    Returns:
        ``"12.5"``, ``"1000"``, ``"0.001"``.
    """
    if number == number.to_integral_value():
        return str(int(number))
    text = format(number.normalize(), "f")
    return text


def _number(attr: AssetAttribute, separator: str) -> Converter:
    low = Decimal(str(attr.min_value)) if attr.min_value not in (None, "") else None
    high = Decimal(str(attr.max_value)) if attr.max_value not in (None, "") else None

    def convert(value: Any, missing: MissingSink) -> Any:
        try:
            number = parse_decimal(value, separator)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            raise ValueProblem(f"{show(value)} is not a number") from None
        if not attr.decimals_allowed and number != number.to_integral_value():
            raise ValueProblem(f"{decimal_text(number)} has decimals, which the attribute refuses")
        if low is not None and number < low:
            raise ValueProblem(f"{decimal_text(number)} is below the minimum {attr.min_value}")
        if high is not None and number > high:
            raise ValueProblem(f"{decimal_text(number)} is above the maximum {attr.max_value}")
        return decimal_text(number)

    def integer(value: Any, missing: MissingSink) -> Any:
        # An int (not a bool) is its own canonical text; bounds compare exactly with Decimals.
        if type(value) is int and (low is None or value >= low) and (high is None or value <= high):
            return str(value)
        return convert(value, missing)

    return integer


def _options(
    attr: AssetAttribute, family: AssetFamily, renames: Mapping[str, str], create: bool
) -> Converter:
    known = {code.lower(): code for code in family.options.get(attr.code, frozenset())}
    multiple = attr.type == "multiple_options"
    hint = "" if create else " (create it in the PIM or set create_missing_options)"

    def one(raw: Any, missing: MissingSink, problems: list[str]) -> str | None:
        label = text_of(raw).strip()
        try:
            code = option_code(renames.get(label, label))
        except ValueError as exc:
            problems.append(str(exc))
            return None
        if code in known:
            return known[code]
        if not create:
            problems.append(f"option {code!r} does not exist (from {show(label)})")
        elif all(code != seen for seen, _ in missing):
            missing.append((code, label))
        return code

    code_of = remembered(one, frozenset(known.values()), create)

    def convert(value: Any, missing: MissingSink) -> Any:
        problems: list[str] = []
        kind = type(value)
        if multiple and (kind is list or kind is tuple):  # the usual shapes, without copies
            codes = codes_of(value, code_of, missing, problems)
        elif kind is str and not multiple:
            if not value.strip():
                return None
            codes = [code_of(value, missing, problems)]  # type: ignore[list-item]
        else:
            items = list(value) if isinstance(value, list | tuple) else [value]
            # A blank label names no option: it is no value (as an empty list is), not an error.
            items = [i for i in items if i is not None and not (type(i) is str and not i.strip())]
            if not items:
                return [] if multiple else None
            if not multiple and len(items) != 1:
                raise ValueProblem(f"expected one option, got {len(items)} (use transform first)")
            codes = codes_of(items, code_of, missing, problems)
        if problems:
            raise ValueProblem("; ".join(problems) + hint)
        return codes if multiple else codes[0]

    return convert


def _boolean(value: Any, missing: MissingSink) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueProblem(f"{show(value)} is not a boolean (true/false, yes/no, 1/0, on/off)")


def _date(value: Any, missing: MissingSink) -> Any:
    day: date
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            day = (
                date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
            )
        except ValueError:
            raise ValueProblem(f"{show(value)} is not an ISO 8601 date") from None
    else:
        raise ValueProblem(f"expected a date, got {show(value)}")
    return f"{day.isoformat()}T00:00:00+00:00"


def _media_link(attr: AssetAttribute) -> Converter:
    prefix = attr.prefix or ""
    suffix = attr.suffix or ""

    def convert(value: Any, missing: MissingSink) -> Any:
        text = _clean_text(value, False).strip()
        if prefix and text.startswith(prefix):
            text = text[len(prefix) :]
        elif prefix and "://" in text:
            raise ValueProblem(f"URL {show(text)} does not start with the prefix {prefix!r}")
        if suffix and text.endswith(suffix):
            text = text[: -len(suffix)]
        if not text:
            raise ValueProblem("the link is empty once prefix and suffix are removed")
        return text

    return convert


def _record(renames: Mapping[str, str]) -> Converter:
    """A reference entity record code: one code, as the DAM gives it or renamed by ``options``."""

    def convert(value: Any, missing: MissingSink) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 1:
                raise ValueProblem(
                    f"expected one record code, got {len(value)} (use transform first)"
                )
            value = value[0]
        text = _clean_text(value, False).strip()
        text = renames.get(text, text)
        if not text:
            return None
        if any(c.isspace() for c in text):
            raise ValueProblem(f"{show(text)} is not a record code (it contains spaces)")
        return text

    return convert


def build_converter(
    attr: AssetAttribute,
    family: AssetFamily,
    *,
    options: Mapping[str, str] | None = None,
    decimal_separator: str = ".",
    create_missing_options: bool = False,
) -> Converter:
    """
    Build the converter of one attribute.

    Args:
        attr: The attribute, from the cached family structure.
        family: Its family (for option codes).
        options: DAM value -> option code (or record code) renames.
        decimal_separator: How number strings write decimals.
        create_missing_options: Report unknown options as options to create, not as errors.

    Returns:
        A converter of one value; ``media_file`` values are not converted here.

    Raises:
        ValueError: an unsupported type or an Akeneo regexp Python cannot check.
    """
    kind = attr.type
    if kind == "text":
        return _text(attr)
    if kind == "number":
        return _number(attr, decimal_separator)
    if kind in ("single_option", "multiple_options"):
        return _options(attr, family, options or {}, create_missing_options)
    if kind == "boolean":
        return _boolean
    if kind == "date":
        return _date
    if kind == "media_link":
        return _media_link(attr)
    if kind == "record":
        return _record(options or {})
    raise ValueError(f"attribute type {kind!r} is not supported")


__all__ = [
    "SUPPORTED_TYPES",
    "Converter",
    "MissingSink",
    "build_converter",
    "compile_pcre",
    "decimal_text",
    "parse_decimal",
    "show",
]
