"""Value conversion by the attribute's real type: valid values and refusals with reasons."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import pytest

from daemon.core.records import AssetAttribute, AssetFamily
from daemon.mapping.convert import build_converter, compile_pcre, show
from daemon.mapping.paths import ValueProblem

OPTIONS = {"colour": frozenset({"red", "Dark_Blue"}), "tags": frozenset({"summer", "sale"})}


def convert(
    value: Any,
    type_: str = "text",
    *,
    create: bool = False,
    separator: str = ".",
    renames: dict[str, str] | None = None,
    **props: Any,
) -> tuple[Any, list[tuple[str, str]]]:
    """Convert one value with a fresh converter; return (data, missing options)."""
    attr = AssetAttribute(code=props.pop("code", "attr"), type=type_, **props)
    family = AssetFamily("fam", {attr.code: attr}, options=OPTIONS)
    conv = build_converter(
        attr,
        family,
        options=renames,
        decimal_separator=separator,
        create_missing_options=create,
    )
    missing: list[tuple[str, str]] = []
    return conv(value, missing), missing


@pytest.mark.parametrize(
    ("value", "props", "expected"),
    [
        ("Shoe", {}, "Shoe"),
        (12, {}, "12"),
        (12.5, {}, "12.5"),
        (True, {}, "true"),
        ("bad\x00char\x07s", {}, "badchars"),
        ("two\nlines\tand tab", {}, "two lines and tab"),
        ("two\nlines", {"is_textarea": True}, "two\nlines"),
        ("x" * 50, {"max_characters": "50"}, "x" * 50),
        ("a@b.example", {"validation_rule": "email"}, "a@b.example"),
        ("https://x.example/p", {"validation_rule": "url"}, "https://x.example/p"),
        ("AB12", {"validation_rule": "regexp", "validation_regexp": "/^[a-z0-9]+$/i"}, "AB12"),
        (datetime(2026, 1, 2, tzinfo=UTC), {}, "2026-01-02T00:00:00+00:00"),
        ("Zoë", {}, "Zoë"),
    ],
)
def test_text_valid(value, props, expected):
    """Text is stringified and cleaned of control characters, then checked."""
    assert (expected, []) == convert(value, "text", **props)


@pytest.mark.parametrize(
    ("value", "props", "reason"),
    [
        ("x" * 51, {"max_characters": 50}, "51 characters, more than the maximum 50"),
        ("not-mail", {"validation_rule": "email"}, "is not an email address"),
        ("ftp://x", {"validation_rule": "url"}, "is not an http(s) URL"),
        ("ab-", {"validation_rule": "regexp", "validation_regexp": "/^[a-z]+$/"}, "does not match"),
        (["a", "b"], {}, "expected a single value, got a list"),
        ({"en_US": "a"}, {}, "expected a single value, got an object"),
        (math.nan, {}, "is not a finite number"),
    ],
)
def test_text_invalid(value, props, reason):
    """Text that breaks the attribute's rules is refused with the reason."""
    with pytest.raises(ValueProblem, match=reason.replace("(", r"\(").replace(")", r"\)")):
        convert(value, "text", **props)


@pytest.mark.parametrize(
    ("value", "props", "separator", "expected"),
    [
        (12, {}, ".", "12"),
        ("12", {}, ".", "12"),
        (" 12 ", {}, ".", "12"),
        ("12.0", {}, ".", "12"),
        ("-0", {}, ".", "0"),
        (12.5, {"decimals_allowed": True}, ".", "12.5"),
        ("12.50", {"decimals_allowed": True}, ".", "12.5"),
        ("12,5", {"decimals_allowed": True}, ",", "12.5"),
        (0.1, {"decimals_allowed": True}, ".", "0.1"),
        ("1e3", {}, ".", "1000"),
        ("5", {"min_value": "5", "max_value": "10"}, ".", "5"),
        ("10", {"min_value": "5", "max_value": "10"}, ".", "10"),
    ],
)
def test_number_valid(value, props, separator, expected):
    """Numbers become canonical decimal strings, read without the process locale."""
    assert (expected, []) == convert(value, "number", separator=separator, **props)


@pytest.mark.parametrize(
    ("value", "props", "separator", "reason"),
    [
        ("12.5", {}, ".", "has decimals, which the attribute refuses"),
        ("12,5", {"decimals_allowed": True}, ".", 'not a number \\(set decimal_separator = ","\\)'),
        ("1,234.5", {"decimals_allowed": True}, ",", "is not a number"),
        ("12 kg", {}, ".", "is not a number"),
        ("", {}, ".", "is not a number"),
        (True, {}, ".", "got the boolean True"),
        (math.inf, {}, ".", "is not a finite number"),
        (math.nan, {}, ".", "is not a finite number"),
        ("nan", {}, ".", "is not a number"),
        ("4", {"min_value": "5"}, ".", "is below the minimum 5"),
        ("11", {"max_value": "10"}, ".", "is above the maximum 10"),
        ([1], {}, ".", "expected a number"),
    ],
)
def test_number_invalid(value, props, separator, reason):
    """Unreadable, non-finite, fractional-where-refused or out-of-bounds numbers are refused."""
    with pytest.raises(ValueProblem, match=reason):
        convert(value, "number", separator=separator, **props)


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("red", "single_option", "red"),
        ("Red", "single_option", "red"),
        ("dark blue", "single_option", "Dark_Blue"),
        (["red"], "single_option", "red"),
        (["summer", "Sale", "summer"], "multiple_options", ["summer", "sale"]),
        ("summer", "multiple_options", ["summer"]),
    ],
)
def test_options_valid(value, type_, expected):
    """Option values normalise to the PIM's existing option codes, case-insensitively."""
    code = "colour" if type_ == "single_option" else "tags"
    assert (expected, []) == convert(value, type_, code=code)


def test_option_renames_apply_before_normalising():
    """The rule's options map turns a DAM value into the PIM code."""
    assert ("red", []) == convert("Rouge", "single_option", code="colour", renames={"Rouge": "red"})


def test_missing_option_is_an_error_by_default():
    """Without create_missing_options an unknown option names the code and the way out."""
    with pytest.raises(ValueProblem, match="option 'green' does not exist.*create_missing_options"):
        convert("Green", "single_option", code="colour")


def test_missing_options_are_reported_when_creation_is_allowed():
    """With create_missing_options the unknown codes are returned with their DAM labels."""
    data, missing = convert(["summer", "Winter Sale"], "multiple_options", code="tags", create=True)
    assert (["summer", "winter_sale"], [("winter_sale", "Winter Sale")]) == (data, missing)


@pytest.mark.parametrize(
    ("value", "reason"),
    [(["red", "red2"], "expected one option, got 2"), ("---", "empty option code")],
)
def test_options_invalid(value, reason):
    """Several values for a single option, or unusable text, are refused."""
    with pytest.raises(ValueProblem, match=reason):
        convert(value, "single_option", code="colour", create=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("yes", True),
        ("Y", True),
        ("1", True),
        ("on", True),
        ("TRUE", True),
        ("no", False),
        ("0", False),
        ("off", False),
        (" false ", False),
    ],
)
def test_boolean_valid(value, expected):
    """Booleans accept true/false, yes/no, 1/0 and on/off in any case."""
    assert (expected, []) == convert(value, "boolean")


@pytest.mark.parametrize("value", ["maybe", 2, 1.0, None, ["yes"]])
def test_boolean_invalid(value):
    """Anything else is refused."""
    with pytest.raises(ValueProblem, match="is not a boolean"):
        convert(value, "boolean")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01", "2026-03-01T00:00:00+00:00"),
        ("2026-03-01T23:30:00-05:00", "2026-03-01T00:00:00+00:00"),
        ("2026-03-01T10:00:00Z", "2026-03-01T00:00:00+00:00"),
        (date(2026, 3, 1), "2026-03-01T00:00:00+00:00"),
        (datetime(2026, 3, 1, 8, tzinfo=UTC), "2026-03-01T00:00:00+00:00"),
    ],
)
def test_date_valid(value, expected):
    """Dates are sent in Akeneo's midnight-UTC ISO form, using the date as written."""
    assert (expected, []) == convert(value, "date")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("01/03/2026", "not an ISO 8601 date"), ("2026-13-01", "not an ISO"), (20260301, "expected")],
)
def test_date_invalid(value, reason):
    """Dates that are not ISO 8601 are refused rather than guessed."""
    with pytest.raises(ValueProblem, match=reason):
        convert(value, "date")


@pytest.mark.parametrize(
    ("value", "props", "expected"),
    [
        ("https://dam.example/f/1.png", {"prefix": "https://dam.example/"}, "f/1.png"),
        (
            "https://dam.example/f/1.png?w=5",
            {"prefix": "https://dam.example/", "suffix": "?w=5"},
            "f/1.png",
        ),
        ("f/1.png", {"prefix": "https://dam.example/"}, "f/1.png"),
        ("https://x.example/1.png", {}, "https://x.example/1.png"),
        ("abc123", {"media_type": "youtube"}, "abc123"),
    ],
)
def test_media_link_valid(value, props, expected):
    """A media link keeps the part between the attribute's prefix and suffix."""
    assert (expected, []) == convert(value, "media_link", **props)


def test_media_link_with_a_foreign_url_is_refused_without_its_query():
    """A full URL outside the prefix is refused, and its query string is not shown."""
    with pytest.raises(ValueProblem, match="does not start with the prefix") as info:
        convert("https://other.example/x.png?token=SECRET", "media_link", prefix="https://dam/")
    assert "SECRET" not in info.value.reason


@pytest.mark.parametrize("type_", ["auto_tagging"])
def test_unsupported_types_are_refused_when_building(type_):
    """Types mapping cannot fill are refused up front."""
    with pytest.raises(ValueError, match="not supported"):
        convert("x", type_)


@pytest.mark.parametrize(
    ("regexp", "text", "matches"),
    [
        ("/^[a-z]+$/", "abc", True),
        ("/^[a-z]+$/", "ABC", False),
        ("/^[a-z]+$/i", "ABC", True),
        ("#^\\d{3}$#", "123", True),
        ("abc", "xabcd", True),
    ],
)
def test_compile_pcre(regexp, text, matches):
    """Akeneo's delimited PCRE regexps are read with their flags."""
    assert matches == bool(compile_pcre(regexp).search(text))


@pytest.mark.parametrize("regexp", ["/abc", "/abc/Q", "/(/"])
def test_compile_pcre_refuses_what_it_cannot_check(regexp):
    """A regexp Python cannot check is a configuration problem, not a silent pass."""
    with pytest.raises(ValueError, match="regexp"):
        compile_pcre(regexp)


def test_show_shortens_and_hides_query_strings():
    """Error excerpts are short and never carry a URL's query string."""
    assert "'https://d.example/a?...'" == show("https://d.example/a?sig=abc")
    assert 62 == len(show("x" * 500))
