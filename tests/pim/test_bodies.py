"""Request bodies built once as bytes; answers read within the project's JSON limits."""

from __future__ import annotations

import json

import httpx
import pytest

from daemon.core.errors import PimProtocolError
from daemon.core.json_limits import MAX_JSON_DEPTH, dump_bytes
from daemon.core.records import PimAsset, PimValue
from tests.pim.helpers import Recorder, make_client

ASSETS = [
    PimAsset(
        "packshots",
        f"sku_{i}",
        {
            "title": [PimValue(f"Titre {i} é", "fr_FR"), PimValue(f"Title {i}", "en_US", "web")],
            "tags": (PimValue(["a", "b"]),),
            "flag": [PimValue(True)],
        },
    )
    for i in range(3)
]


def bulk_answer(request: httpx.Request, status: int = 204) -> httpx.Response:
    items = json.loads(request.content)
    return httpx.Response(200, json=[{"code": i["code"], "status_code": status} for i in items])


async def test_a_bulk_patch_is_encoded_once_and_resent_as_is(monkeypatch):
    """A 503 then a 200: both attempts carry the same bytes, encoded a single time."""
    encoded: list[bytes] = []
    real = dump_bytes

    def counting(value):
        encoded.append(real(value))
        return encoded[-1]

    monkeypatch.setattr("daemon.pim.bulk.dump_bytes", counting)
    statuses = iter([503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return bulk_answer(request) if status == 200 else httpx.Response(status)

    rec = Recorder(handler)
    async with make_client(rec) as client:
        results = await client.upsert_assets("packshots", ASSETS)
    assert ["updated"] * 3 == [r.outcome for r in results]
    first, second = rec.api
    assert 1 == len(encoded)
    assert encoded[0] == first.content == second.content
    assert "application/json" == first.headers["content-type"]
    assert str(len(first.content)) == first.headers["content-length"]


async def test_the_bulk_body_is_the_json_of_the_assets():
    """Same keys and values as ``to_json``, compact UTF-8, as httpx's ``json=`` wrote it."""
    rec = Recorder(bulk_answer)
    async with make_client(rec) as client:
        await client.upsert_assets("packshots", ASSETS)
    (request,) = rec.api
    expected = [a.to_json() for a in ASSETS]
    assert expected == json.loads(request.content)
    assert json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode() == (
        request.content
    )


async def test_a_single_upsert_sends_json_bytes():
    rec = Recorder(lambda request: httpx.Response(204))
    async with make_client(rec) as client:
        await client.upsert_asset(ASSETS[0])
    (request,) = rec.api
    assert ASSETS[0].to_json() == json.loads(request.content)
    assert "application/json" == request.headers["content-type"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 5000])
async def test_a_too_deep_bulk_answer_fails_the_items_as_a_protocol_error(depth):
    """Past the project's depth limit (below orjson's 1024 too), never a RecursionError."""
    deep = "[" * depth + "]" * depth

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=deep, headers={"content-type": "application/json"})

    async with make_client(Recorder(handler)) as client:
        results = await client.upsert_assets("packshots", ASSETS)
    assert ["failed"] * 3 == [r.outcome for r in results]
    assert all(isinstance(r.error, PimProtocolError) for r in results)
    assert "nested too deeply" in results[0].message


async def test_an_answer_at_the_depth_limit_is_read():
    """Depth MAX_JSON_DEPTH is still JSON of the wrong shape, not a depth error."""
    deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=deep, headers={"content-type": "application/json"})

    async with make_client(Recorder(handler)) as client:
        results = await client.upsert_assets("packshots", ASSETS)
    assert "nested too deeply" not in results[0].message
    assert "the answer has 1 items" in results[0].message
