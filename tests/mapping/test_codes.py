"""Asset and option codes: sanitising, transliteration, hash suffixes, collisions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.mapping.codes import code_hash, option_code, sanitise_code, transliterate

CODE = re.compile(r"^[a-zA-Z0-9_]+$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc", "abc"),
        ("ABC_123", "ABC_123"),
        ("_", "_"),
        ("a-b", f"a_b_h{code_hash('a-b')}"),
        ("a/b", f"a_b_h{code_hash('a/b')}"),
        ("Café", f"Cafe_h{code_hash('Café')}"),
        ("Straße 5", f"Strasse_5_h{code_hash('Straße 5')}"),
        ("0A3C2A6E-4C32-4492", f"0A3C2A6E_4C32_4492_h{code_hash('0A3C2A6E-4C32-4492')}"),
        ("x_h0123456789abcdef", f"x_h0123456789abcdef_h{code_hash('x_h0123456789abcdef')}"),
        ("日本", f"___h{code_hash('日本')}"),
    ],
)
def test_sanitise_code(raw, expected):
    """A valid code is kept; anything sanitised carries the hash of the original text."""
    assert expected == sanitise_code(raw)


def test_sanitise_code_truncates_long_codes_with_a_hash():
    """A valid code longer than 255 characters is cut to 255, hash included."""
    raw = "a" * 300
    code = sanitise_code(raw)
    assert 255 == len(code)
    assert code.endswith(f"_h{code_hash(raw)}")


def test_sanitise_code_keeps_a_code_of_exactly_255():
    """A valid code of exactly 255 characters is not touched."""
    assert "b" * 255 == sanitise_code("b" * 255)


def test_sanitise_code_refuses_empty_text():
    """An empty code is a programming error the mapper reports per asset."""
    with pytest.raises(ValueError, match="empty"):
        sanitise_code("")


def test_code_hash_is_stable_across_runs():
    """The suffix is SHA-256 based, so it is the same on every run and Python version."""
    assert "d44362d67d921091" == code_hash("a-b")  # printf a-b | sha256sum


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=300), min_size=2, max_size=8, unique=True))
def test_distinct_ids_give_distinct_valid_codes(ids):
    """Distinct DAM ids never share a code, and every code is valid and at most 255 long."""
    codes = [sanitise_code(i) for i in ids]
    assert len(ids) == len(set(codes))
    assert all(CODE.match(c) and len(c) <= 255 for c in codes)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_kept_and_hashed_codes_never_overlap(raw):
    """A kept code is a fixed point, a hashed one is not: the two sets of outputs are disjoint."""
    code = sanitise_code(raw)
    if code == raw:
        assert code == sanitise_code(code)
    else:
        assert code != sanitise_code(code)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Élan", "Elan"),
        ("Zoë Müller", "Zoe Muller"),
        ("Björn Åkesson", "Bjorn Akesson"),
        ("Ærø", "AEro"),
        ("plain", "plain"),
    ],
)
def test_transliterate(raw, expected):
    """Accented Latin letters fold to ASCII."""
    assert expected == transliterate(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("red", "red"),
        ("Red", "red"),
        ("Dark Red", "dark_red"),
        ("  summer  sale ", "summer_sale"),
        ("weiß", "weiss"),
        ("grün", "grun"),
        ("Sale-50%", "sale_50"),
        ("a__b", "a__b"),
    ],
)
def test_option_code(raw, expected):
    """DAM option values normalise to lowercase option codes."""
    assert expected == option_code(raw)


@pytest.mark.parametrize("raw", ["", "---", "日本", "x" * 300 + "!"])
def test_option_code_refuses_unusable_text(raw):
    """Text with no usable character, or too long, is refused with a reason."""
    with pytest.raises(ValueError, match="empty|longer"):
        option_code(raw)
