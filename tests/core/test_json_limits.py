"""loads_bounded: a fast parser for the common case, the standard library's answers for the rest."""

from __future__ import annotations

import json

import orjson
import pytest

from daemon.core.json_limits import (
    MAX_JSON_DEPTH,
    ORJSON_MAX_DEPTH,
    JsonTooDeepError,
    dump_bytes,
    loads_bounded,
)


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + "1" + close * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_orjson_reads_exactly_the_depth_the_padding_assumes():
    """An orjson release with another limit would shift ours: this says so first."""
    deepest = "[" * ORJSON_MAX_DEPTH + "]" * ORJSON_MAX_DEPTH
    assert orjson.loads(deepest) is not None
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads("[" + deepest + "]")


@pytest.mark.parametrize("make", [nested, nested_objects])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_the_depth_limit_is_the_projects_not_the_parsers(make, as_bytes):
    """Depth MAX_JSON_DEPTH is read; one level more is refused, below orjson's own 1024."""
    for depth, ok in ((MAX_JSON_DEPTH, True), (MAX_JSON_DEPTH + 1, False), (1000, False)):
        text = make(depth)
        data = text.encode() if as_bytes else text
        if ok:
            assert loads_bounded(data) == json.loads(text)
        else:
            with pytest.raises(JsonTooDeepError):
                loads_bounded(data)


def test_a_too_deep_document_with_a_nan_is_refused_too():
    """The standard library's path (NaN is no JSON for orjson) keeps the same depth limit."""
    text = "[" * (MAX_JSON_DEPTH + 10) + "NaN" + "]" * (MAX_JSON_DEPTH + 10)
    with pytest.raises(JsonTooDeepError):
        loads_bounded(text)
    shallow = "[" * 10 + "NaN" + "]" * 10
    assert isinstance(loads_bounded(shallow), list)


@pytest.mark.parametrize(
    "text",
    [
        "123456789012345678901234567890",
        '{"id": -9223372036854775809}',
        '{"id": 18446744073709551616}',
        "[\n  1,\n  123456789012345678901234567890\n]",
        '{"a":[1,-123456789012345678901]}',
        "[9223372036854775807, 18446744073709551615]",
        "[NaN, Infinity, -Infinity]",
        "1e400",
        '"a\\ud800b"',
        '"\\ud83d\\ude00"',
        '{"a": 1, "a": 2}',
        " [1, 2.5, -0, true, null] ",
        '{"nested": {"list": [{"x": "é"}]}}',
    ],
)
def test_values_are_those_of_the_standard_library(text):
    """Big integers stay integers (orjson would read floats), NaN literals and surrogates too."""
    expected = json.loads(text.replace("\\ud800", "\\ufffd"))
    for data in (text, text.encode()):
        got = loads_bounded(data)
        assert repr(got) == repr(expected)


@pytest.mark.parametrize("data", [b"", b"[1,]", b"[1] x", b"\xff", b"[", b"1],[2", b" ", "[1,]"])
def test_invalid_documents_are_value_errors(data):
    """What the standard library refuses is refused (a ValueError), even when padded."""
    with pytest.raises(ValueError):
        loads_bounded(data)


def test_utf16_and_bom_documents_are_read_as_before():
    assert [1, "é"] == loads_bounded('[1, "é"]'.encode("utf-16"))
    assert {"a": 1} == loads_bounded(b'\xef\xbb\xbf{"a": 1}')


def test_the_common_case_takes_the_fast_path(monkeypatch):
    """A plain page never reaches the standard library's parser."""

    def refuse(*args, **kwargs):
        raise AssertionError("json.loads called")

    monkeypatch.setattr(json, "loads", refuse)
    page = {
        "items": [{"id": str(i), "n": i, "sha": "1" * 64, "tags": ["a"]} for i in range(50)],
        "next": None,
        "max": 2**63 - 1,
    }
    assert page == loads_bounded(json.dumps(page).encode())


def test_dump_bytes_is_compact_utf8_json():
    value = [{"code": "a", "values": {"t": [{"locale": None, "channel": None, "data": "é"}]}}]
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert expected == dump_bytes(value)


def test_dump_bytes_takes_what_orjson_does_not():
    """Integers past 64 bits and non-string keys are written as the standard library does."""
    assert b'{"1":123456789012345678901234567890}' == dump_bytes(
        {1: 123456789012345678901234567890}
    )
