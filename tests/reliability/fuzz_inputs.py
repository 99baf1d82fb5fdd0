"""
Hypothesis strategies for what a DAM or a hot folder may hand the daemon.

Biased towards the inputs that broke readers before: placeholder dates (``0001-01-01``,
``9999-12-31``), offsets that push a date out of ``datetime``'s range, NaN and Infinity,
lone surrogates, byte order marks, invalid UTF-8, deep nesting, truncated documents.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from tests.engine.conftest import EXAMPLE

#: Strings a hostile DAM is fond of, next to whatever hypothesis invents.
ODD_TEXT = [
    "",
    " ",
    "\ufeff",
    "\u0000",
    "\ud800",
    "e\u0301",
    "\u00e9",
    "a\nb",
    "../../etc/passwd",
    "NaN",
    "Infinity",
    "-0",
    "1e999",
    "x" * 5000,
]
TEXT = st.text(max_size=30) | st.sampled_from(ODD_TEXT)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | FLOATS | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)

ODD_DATES = [
    "0000-00-00 00:00:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "2026-02-30T00:00:00Z",
    "2026-11-23T08:00:00",
    "2026-11-23T08:00:00.123456789Z",
    "2026-11-23 08:00:00 +0100",
    "1e999",
    "NaN",
    "-1",
]
OFFSETS = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
WHEN = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.none(), OFFSETS),
)
DATES = (
    WHEN.map(datetime.isoformat)
    | WHEN.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    | st.integers(min_value=-(2**64), max_value=2**64)
    | FLOATS
    | TEXT
    | st.sampled_from(ODD_DATES)
)
IDS = TEXT | st.integers(min_value=-(2**64), max_value=2**64) | FLOATS | VALUES
SIZES = st.integers(min_value=-10, max_value=2**70) | st.from_regex(r"\A-?[0-9]{1,30}\Z") | VALUES
URLS = (
    st.sampled_from(
        [
            "http://127.0.0.1:8082/files/f",
            "file:///etc/passwd",
            "http://[::1",
            "http://h:99999/x",
            "\x00",
            "javascript:alert(1)",
            "//elsewhere.test/x",
            "http://" + "a" * 70_000,
        ]
    )
    | TEXT
    | VALUES
)
HEX = st.binary(min_size=16, max_size=32).map(bytes.hex)
CHECKSUMS = HEX | HEX.map(lambda h: f"sha256:{h}") | TEXT | VALUES
FILES = (
    st.fixed_dictionaries(
        {},
        optional={
            "url": URLS,
            "filename": TEXT | VALUES,
            "mime_type": TEXT | VALUES,
            "size": SIZES,
            "sha256": CHECKSUMS,
        },
    )
    | VALUES
)
#: One item of the example configuration's generic listing shape, any field any value.
ITEMS = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": IDS,
            "updated_at": DATES,
            "deleted": VALUES,
            "file": FILES,
            "metadata": st.dictionaries(TEXT, VALUES, max_size=4) | VALUES,
        },
    )
    | VALUES
)
PAGES = (
    st.fixed_dictionaries(
        {"items": st.lists(ITEMS, max_size=4) | VALUES},
        optional={"next_cursor": st.none() | TEXT | VALUES, "server_time": DATES},
    )
    | VALUES
)


def dump(document: Any) -> bytes:
    """JSON as a careless server writes it: NaN and Infinity literals, escaped surrogates."""
    return json.dumps(document, allow_nan=True).encode()


@st.composite
def mangled(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> bytes:
    """A JSON document's bytes, possibly with a BOM, cut short, re-encoded or corrupted."""
    data = dump(draw(documents))
    how = draw(st.sampled_from(["as is", "bom", "cut", "utf-16", "bad utf-8", "nested"]))
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if how == "utf-16":
        return data.decode().encode("utf-16")
    if how == "bad utf-8":
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\xc3\x28\xff" + data[at:]
    if how == "nested":
        depth = draw(st.integers(0, 3000))
        return b'{"a":' * depth + data + b"}" * depth
    return data


def example_rest_table(base_url: str, **paging: Any) -> dict[str, Any]:
    """The example configuration's REST source (the generic shape), one attempt per request."""
    source = tomllib.loads(EXAMPLE.read_text())["sources"][0]
    table = {k: source[k] for k in ("name", "kind", "rest")}
    table["rest"]["base_url"] = base_url
    table["rest"]["paging"].update(paging)
    table["http"] = {"retry": {"attempts": 1}}
    return table


__all__ = [
    "CHECKSUMS",
    "DATES",
    "ITEMS",
    "PAGES",
    "TEXT",
    "VALUES",
    "dump",
    "example_rest_table",
    "mangled",
]
