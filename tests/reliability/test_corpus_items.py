"""
Hostile DAM items, one field at a time, through the whole engine (see ``corpus.py``).

Each case puts one hostile item between two good ones in a listing page written the way a
careless server writes JSON (NaN literals, escaped lone surrogates, duplicate keys) and runs
one pass. Whatever the item, both good neighbours are written, the cursor passes all three
(the hostile one is written or recorded, so passing it loses nothing), no DAM credential
leaves the DAM's origin, and the hostile item ends as the case expects: written under its id,
or one failure row naming the field and why.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.corpus import Case, params
from tests.reliability.raw_dam import (
    BASE_URL,
    NOW,
    Failed,
    RawDam,
    Written,
    code,
    good_item,
    iso,
    raw_rig,
)

T0 = NOW - timedelta(hours=1)
BEFORE, HOSTILE, AFTER = (T0 + timedelta(seconds=n) for n in (1, 2, 3))
NAN, INF = float("nan"), float("inf")
IMAGE = {"filename": "a.jpg", "mime_type": "image/jpeg"}
LONG = "h" * 100_000


def item(case_id: str, **over: Any) -> bytes:
    """The raw JSON of an image item (``over`` replaces fields), NaN literals allowed."""
    return json.dumps(good_item(case_id, HOSTILE, "H", **over), allow_nan=True).encode()


def file(url: Any = None, **over: Any) -> dict[str, Any]:
    return {"url": url if url is not None else f"{BASE_URL}/files/x", **IMAGE, **over}


def meta(**values: Any) -> dict[str, Any]:
    return {"title": {"en_US": "t"}, "sku": "S", **values}


def c(case_id: str, promise: Any, raw: bytes, expect: Any) -> Case:
    return Case(case_id, promise, raw, expect)


def failed(case_id: str, field: str, words: str, promise: Any = "clear error") -> Case:
    return Case(case_id, promise, None, Failed(case_id, field, words))


CASES = [
    # --- ids --------------------------------------------------------------------------
    c("id-number", "nothing lost", item("id-number", id=12345), Written("12345")),
    c("id-object", "clear error", item("x", id={"a": 1}), Failed("?id", "id", "not a usable id")),
    c("id-empty", "clear error", item("x", id=""), Failed("?id", "id", "not a usable id: ''")),
    c("id-float", "clear error", item("x", id=1.5), Failed("?id", "id", "not a usable id: 1.5")),
    c("id-bool", "clear error", item("x", id=True), Failed("?id", "id", "not a usable id: True")),
    c("id-null", "clear error", item("x", id=None), Failed("?id", "id", "not a usable id: None")),
    c("id-100k-chars", "bounded memory", item(LONG, metadata=meta(), file=file()), Written(LONG)),
    Case(
        "id-100k-chars-failing",
        "clear error",
        item(LONG, metadata=meta(title={"en_US": "t" * 300}), file=file()),
        Failed(LONG, "title[locale=en_US]", "more than the maximum 255"),
    ),
    c(
        "id-path-traversal",
        "nothing lost",
        item("../../admin", file=file()),
        Written("../../admin"),
    ),
    c("id-lone-surrogate", "nothing lost", item("x\ud800y"), Written("x\ufffdy")),
    c("item-null", "clear error", b"null", Failed("?id", "id", "not a JSON object but NoneType")),
    c("item-list", "clear error", b'["id", 1]', Failed("?id", "id", "not a JSON object but list")),
    # --- updated_at ------------------------------------------------------------------------
    failed("ts-year-9999", "updated_at", "is out of range"),
    failed("ts-year-1-plus-offset", "updated_at", "is out of range"),
    failed("ts-year-1601", "updated_at", "is out of range"),
    failed("ts-month-13", "updated_at", "not an ISO-8601 datetime"),
    failed("ts-epoch-number", "updated_at", "expected a datetime string"),
    failed("ts-object", "updated_at", "expected a datetime string"),
    c(
        "ts-naive",
        "nothing lost",
        item("ts-naive", updated_at=iso(HOSTILE)[:-8]),
        Written("ts-naive"),
    ),
    # --- metadata --------------------------------------------------------------------------
    failed("meta-nan-number", "width", "nan is not a finite number"),
    failed("meta-infinity-text", "title[locale=en_US]", "inf is not a finite number"),
    failed("meta-nan-text", "product_ref", "nan is not a finite number"),
    failed("meta-not-object", "metadata", "not a JSON object: str"),
    failed("meta-null", "metadata", "not a JSON object: NoneType"),
    c(
        "meta-lone-surrogate",
        "nothing lost",
        item("meta-lone-surrogate", metadata=meta(title={"en_US": "a\ud800b"})),
        Written("meta-lone-surrogate"),
    ),
    c(
        "meta-duplicate-keys",
        "nothing lost",
        item("meta-duplicate-keys").replace(b'"sku": "H"', b'"sku": "FIRST", "sku": "LAST"'),
        Written("meta-duplicate-keys"),
    ),
    c(
        "meta-1mb-text",
        "bounded memory",
        item("meta-1mb", metadata=meta(sku="k" * (1 << 20))),
        Written("meta-1mb"),
    ),
    # --- the binary's description ------------------------------------------------------------
    failed("size-text", "size", "not a byte count: 'big'"),
    failed("size-negative", "size", "negative size -1"),
    failed("size-1e30", "size", "not a byte count: 1e+30"),
    failed("url-number", "binary_url", "not a URL: 42"),
    failed("url-bad-ipv6", "binary_url", "the binary URL cannot be used"),
    failed("url-nul", "binary_url", "the binary URL cannot be used"),
    failed("url-file-scheme", "binary_url", "unsupported URL scheme 'file'", "nothing leaked"),
    c(
        "url-other-origin",
        "nothing leaked",
        item("url-other-origin", file=file("http://elsewhere.test/f")),
        Written("url-other-origin"),
    ),
    failed("checksum-garbage", "checksum", "cannot be read"),
]

#: The raw items of the ``failed(...)`` cases, by id.
RAW: dict[str, dict[str, Any]] = {
    "ts-year-9999": {"updated_at": "9999-12-31T23:59:59Z"},
    "ts-year-1-plus-offset": {"updated_at": "0001-01-01T00:00:00+01:00"},
    "ts-year-1601": {"updated_at": "1601-01-01T00:00:00Z"},
    "ts-month-13": {"updated_at": "2026-13-45T99:99:99Z"},
    "ts-epoch-number": {"updated_at": 1764000000},
    "ts-object": {"updated_at": {"$date": "2026-11-23"}},
    "meta-nan-number": {"metadata": meta(width=NAN)},
    "meta-infinity-text": {"metadata": meta(title={"en_US": INF})},
    "meta-nan-text": {"metadata": meta(sku=NAN)},
    "meta-not-object": {"metadata": "just text"},
    "meta-null": {"metadata": None},
    "size-text": {"file": file(size="big")},
    "size-negative": {"file": file(size=-1)},
    "size-1e30": {"file": file(size=1e30)},
    "url-number": {"file": file(42)},
    "url-bad-ipv6": {"file": file("http://[::1/x")},
    "url-nul": {"file": file(f"{BASE_URL}/files/\x00x")},
    "url-file-scheme": {"file": file("file:///etc/passwd")},
    "checksum-garbage": {"file": file(sha256="zz-not-hex")},
}


def listing(hostile: bytes) -> bytes:
    """A page: a good item, the hostile one as given, another good item."""
    before = json.dumps(good_item("good-before", BEFORE, "GB")).encode()
    after = json.dumps(good_item("good-after", AFTER, "GA")).encode()
    head = f'{{"next_cursor": null, "server_time": "{iso(NOW)}", "items": ['.encode()
    return head + before + b"," + hostile + b"," + after + b"]}"


@pytest.mark.parametrize("case", params(CASES))
async def test_dam_item(tmp_path: Path, case: Case) -> None:
    """One hostile item: written or one precise failure; its neighbours written, nothing leaked."""
    raw = case.input if case.input is not None else item(case.id, **RAW[case.id])
    page = listing(raw)
    dam = RawDam(
        pages=[
            lambda _: httpx.Response(
                200, content=page, headers={"Content-Type": "application/json"}
            )
        ]
    )
    async with raw_rig(tmp_path, dam) as rig:
        result = await rig.runner.run_once()
        failures = rig.failures()
        pim = await rig.packshots()
        cursor = rig.cursor()
    assert (True, True) == (code("good-before") in pim, code("good-after") in pim), result.error
    assert ("good-after", []) == (cursor.id if cursor else None, rig.leaked_to())
    expect = case.expect
    if isinstance(expect, Written):
        assert ("succeeded", {}) == (result.status, failures), result.error
        assert code(expect.dam_id) in pim
        return
    assert ("partial", [expect.dam_id]) == (result.status, sorted(failures)), result.error
    detail = failures[expect.dam_id].detail
    assert (True, True) == (f"field {expect.field!r}" in detail, expect.words in detail), detail
    assert len(detail) <= 4000
