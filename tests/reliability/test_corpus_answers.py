"""
Hostile DAM answers through the whole engine: listing pages, paging tokens and binaries.

Pages and tokens (:func:`test_dam_answer` with an :class:`Ends`): the pass either reads what
the DAM meant, or fails with one error naming the endpoint and why, the cursor left where it
was and no failure row invented. Binaries (a :class:`Written` or :class:`Failed`): the asset
is written or fails alone, its neighbours are written. In every case the DAM's credentials
never leave its origin, and the listing is asked a bounded number of times.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.corpus import Case, params
from tests.reliability.raw_dam import (
    JPEG,
    NOW,
    Answer,
    Failed,
    RawDam,
    Written,
    code,
    good_item,
    iso,
    page_answer,
    raw_answer,
    raw_rig,
)

T0 = NOW - timedelta(hours=1)
HTML = b"<html><body><form>Please sign in</form></body></html>"


@dataclass(frozen=True)
class Ends:
    """Expected end of the pass: its status, the ids written, words of its error."""

    status: str
    written: tuple[str, ...] = ()
    words: str = ""
    #: The listing requests the pass may make at most (the clock probe not counted).
    listings: int = 3


def assets(prefix: str = "p", count: int = 3) -> list[dict[str, Any]]:
    return [good_item(f"{prefix}{n}", T0 + timedelta(seconds=n + 1), f"S{n}") for n in range(count)]


def body(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


PAGE = body({"items": assets(), "next_cursor": None, "server_time": iso(NOW)})
ALL = ("p0", "p1", "p2")


def fixed(data: bytes, content_type: str = "application/json") -> Answer:
    """An answer of ``data`` whatever the request."""
    return lambda _: raw_answer(data, content_type)


def answers(*pages: bytes, content_type: str = "application/json") -> list[Answer]:
    return [fixed(p, content_type) for p in pages]


def page(cut: Callable[[bytes], bytes]) -> list[Answer]:
    return answers(cut(PAGE))


#: Cases whose every answer (the clock probe included) is the scripted one.
WITH_PROBE = {"server-time-nan", "server-time-year-9999", "date-header-year-9999"}

CASES = [
    # --- listing pages -------------------------------------------------------------------
    Case(
        "page-utf8-bom", "nothing lost", page(lambda b: b"\xef\xbb\xbf" + b), Ends("succeeded", ALL)
    ),
    Case(
        "page-utf16",
        "nothing lost",
        page(lambda b: b.decode().encode("utf-16")),
        Ends("succeeded", ALL),
    ),
    Case(
        "page-invalid-utf8",
        "clear error",
        page(lambda b: b.replace(b"Title p1", b"Title \xc3\x28")),
        Ends("failed", words="unreadable JSON"),
    ),
    Case(
        "page-surrogate-as-bytes",
        "clear error",
        page(lambda b: b.replace(b"Title p1", b"Title \xed\xa0\x80")),
        Ends("failed", words="unreadable JSON"),
    ),
    Case(
        "page-empty-body",
        "clear error",
        page(lambda b: b""),
        Ends("failed", words="unreadable JSON"),
    ),
    Case(
        "page-truncated",
        "clear error",
        page(lambda b: b[:100]),
        Ends("failed", words="unreadable JSON"),
    ),
    Case(
        "page-text-plain",
        "clear error",
        answers(PAGE, content_type="text/plain"),
        Ends("failed", words="expected a JSON answer"),
    ),
    Case(
        "page-items-object",
        "clear error",
        answers(body({"items": {"a": 1}, "server_time": iso(NOW)})),
        Ends("failed", words="items at 'items' are not a list"),
    ),
    Case(
        "page-top-level-array",
        "clear error",
        answers(b"[]"),
        Ends("failed", words="no items at 'items'"),
    ),
    Case(
        "page-duplicate-items-key",
        "nothing lost",
        page(lambda b: b[:-1] + b', "items": []}'),
        Ends("succeeded"),  # the last "items" wins, as everywhere: nothing read, cursor unmoved
    ),
    Case(
        "page-300-items-for-100",
        "nothing lost",
        answers(body({"items": assets("o", 300), "next_cursor": None, "server_time": iso(NOW)})),
        Ends("succeeded", tuple(f"o{n}" for n in range(300))),
    ),
    Case(
        "server-time-nan",
        "clear error",
        page(lambda b: b.replace(f'"{iso(NOW)}"'.encode(), b"NaN")),
        Ends("failed", words="unreadable server time", listings=0),
    ),
    Case(
        "server-time-year-9999",
        "clear error",
        page(lambda b: b.replace(iso(NOW).encode(), b"9999-12-31T23:59:59Z")),
        Ends("failed", words="out of range", listings=0),
    ),
    Case(
        "date-header-year-9999",
        "clear error",
        [lambda _: raw_answer(body({"items": []}), Date="Fri, 31 Dec 9999 23:59:59 GMT")],
        Ends("failed", words="Date header out of range", listings=0),
    ),
    # --- paging tokens ---------------------------------------------------------------------
    Case(
        "next-missing",
        "nothing lost",
        answers(body({"items": assets(), "server_time": iso(NOW)})),
        Ends("succeeded", ALL, listings=1),
    ),
    Case(
        "next-points-to-itself",
        "bounded memory",
        [lambda _: page_answer(assets(), "same")] * 5,
        Ends("failed", words="answered the same 3 items again", listings=2),
    ),
    Case(
        "next-is-an-object",
        "clear error",
        [lambda _: page_answer(assets(), {"a": 1})],
        Ends("failed", words="next page token is not text: dict"),
    ),
    Case(
        "next-is-true",
        "clear error",
        [lambda _: page_answer(assets(), True)],
        Ends("failed", words="next page token is not text: bool"),
    ),
    Case(
        "next-is-false",
        "nothing lost",
        [lambda _: page_answer(assets(), False)],
        Ends("succeeded", ALL, listings=1),
    ),
    Case(
        "next-is-a-number",
        "nothing lost",
        [lambda _: page_answer(assets()[:2], 2), lambda _: page_answer(assets()[2:])],
        Ends("succeeded", ALL, listings=2),
    ),
]


def binary(answer: Answer, **file: Any) -> tuple[dict[str, Any], Answer]:
    return file, answer


def jpeg(status: int = 200, content: bytes = JPEG, headers: dict[str, str] | None = None) -> Answer:
    all_headers = {"Content-Type": "image/jpeg", **(headers or {})}
    return lambda _: httpx.Response(status, content=content, headers=all_headers)


def html(charset: str = "") -> Answer:
    return lambda _: httpx.Response(
        200, content=HTML, headers={"Content-Type": f"text/html{charset}"}
    )


UNANNOUNCED = {"size": None, "sha256": None}
BINARY_CASES = [
    Case(
        "binary-html-page",
        "clear error",
        binary(html()),
        Failed("target", "binary", "answered an HTML page"),
    ),
    Case(
        "binary-html-page-unannounced",
        "clear error",
        binary(html("; charset=utf-8"), **UNANNOUNCED),
        Failed("target", "binary", "answered an HTML page"),
    ),
    Case(
        "binary-empty-sized",
        "clear error",
        binary(jpeg(content=b""), sha256=None),
        Failed("target", "size", "truncated download: 0 of"),
    ),
    Case(
        "binary-empty-unannounced",
        "nothing lost",
        binary(jpeg(content=b""), **UNANNOUNCED),
        Written("target"),
    ),
    Case(
        "binary-length-not-a-number",
        "nothing lost",
        binary(jpeg(headers={"Content-Length": "abc"})),
        Written("target"),
    ),
    Case(
        "binary-length-negative",
        "nothing lost",
        binary(jpeg(headers={"Content-Length": "-5"}), **UNANNOUNCED),
        Written("target"),
    ),
    Case(
        "binary-redirect-elsewhere",
        "nothing leaked",
        binary(jpeg(302, b"", {"Location": "http://elsewhere.test/files/x"})),
        Failed("target", "binary_url", "answered HTTP 302"),
    ),
    Case(
        "binary-404",
        "clear error",
        binary(jpeg(404, b"gone")),
        Failed("target", "binary_url", "answered HTTP 404"),
    ),
    Case(
        "binary-wrong-checksum",
        "clear error",
        binary(jpeg(), sha256="0" * 64),
        Failed("target", "checksum", "sha256 mismatch"),
    ),
]
CASES += BINARY_CASES


async def run_pages(tmp_path: Path, case: Case, pages: Sequence[Answer], expect: Ends) -> None:
    dam = RawDam(pages=list(pages), probe=pages[0] if case.id in WITH_PROBE else None)
    async with raw_rig(tmp_path, dam) as rig:
        result = await rig.runner.run_once()
        written = await rig.packshots()
        failures = rig.failures()
        cursor = rig.cursor()
    assert expect.status == result.status, result.error
    assert sorted(code(i) for i in expect.written) == sorted(written)
    assert ({}, [], True) == (failures, rig.leaked_to(), dam.listings <= expect.listings)
    if expect.status == "failed":
        assert None is cursor
        error = result.error or ""
        assert (True, True) == (expect.words in error, "/generic/assets" in error), error
    elif expect.written:
        assert expect.written[-1] == cursor.id  # the newest, listed last


def own_binary(item: dict[str, Any], content: bytes) -> Callable[[httpx.Request], httpx.Response]:
    """Give ``item`` a binary of its own (its size and checksum), and the answer serving it."""
    item["file"] = {
        **item["file"],
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    return lambda request: httpx.Response(
        200, content=content, headers={"Content-Type": "image/jpeg"}
    )


async def run_binary(tmp_path: Path, case: Case) -> None:
    overrides, answer = case.input
    target = good_item("target", T0 + timedelta(seconds=2), "T")
    target["file"] = {k: v for k, v in {**target["file"], **overrides}.items() if v is not None}
    before = good_item("before", T0 + timedelta(seconds=1), "B")
    after = good_item("after", T0 + timedelta(seconds=3), "A")
    # Neighbours with binaries of their own: were they the target's, the checksum dedupe could
    # take an upload recorded by a neighbour, and the target's answer would never be read.
    files = {
        "target": answer,
        "before": own_binary(before, b"\xff\xd8\xff\xe0 before's jpeg"),
        "after": own_binary(after, b"\xff\xd8\xff\xe0 after's jpeg"),
    }
    dam = RawDam(items=[before, target, after], files=files)
    async with raw_rig(tmp_path, dam) as rig:
        result = await rig.runner.run_once()
        written = await rig.packshots()
        failures = rig.failures()
    assert ({code("before"), code("after")}, []) == (
        set(written) - {code("target")},
        rig.leaked_to(),
    )
    expect = case.expect
    if isinstance(expect, Written):
        assert ("succeeded", True) == (result.status, code("target") in written), result.error
        return
    assert ("partial", ["target"], False) == (
        result.status,
        sorted(failures),
        code("target") in written,
    )
    detail = failures["target"].detail
    assert (True, True) == (f"field {expect.field!r}" in detail, expect.words in detail), detail


@pytest.mark.parametrize("case", params(CASES))
async def test_dam_answer(tmp_path: Path, case: Case) -> None:
    """One hostile answer: read as meant, or one clear error; no credential leaves the DAM."""
    if isinstance(case.expect, Ends):
        await run_pages(tmp_path, case, case.input, case.expect)
    else:
        await run_binary(tmp_path, case)
