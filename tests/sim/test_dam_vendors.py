"""The DAM simulator's Bynder and Cloudinary shapes (dam-apis.md §1 and §2)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from daemon.sim.dam.dam_app import DamSimOptions
from tests.sim.test_dam_helpers import BEARER, make_client, oracle

BASIC = ("demo", "demo")
SEARCH = "/v1_1/demo/resources/search"


async def test_bynder_listing_uses_bynder_field_names_and_envelopes():
    """Media items carry Bynder's names; count=true and total=true wrap them as documented."""
    client, _ = make_client(DamSimOptions(assets=12))
    async with client:
        bare = (await client.get("/api/v4/media/", params={"limit": 3}, headers=BEARER)).json()
        count = await client.get("/api/v4/media/", params={"count": "true"}, headers=BEARER)
        total = await client.get("/api/v4/media/", params={"total": "true"}, headers=BEARER)
    assert 3 == len(bare)
    expected = {"id", "name", "dateModified", "dateCreated", "type", "tags", "archive", "extension"}
    assert expected <= set(bare[0])
    assert {"fileSize", "property_sku", "property_title_fr_FR"} <= set(bare[0])
    assert isinstance(bare[0]["extension"], list)
    assert bare[0]["dateModified"].endswith("Z") and len(bare[0]["dateModified"]) == 20
    assert 12 == count.json()["count"]["total"]
    assert 12 == total.json()["total"]["count"]
    assert 12 == len(total.json()["media"])


@pytest.mark.parametrize("use_cursor", [False, True])
async def test_bynder_pages_through_live_assets_once(use_cursor):
    """Page numbers or X-Bynder-NextCursor serve every live asset once; deleted ones vanish."""
    client, _ = make_client(DamSimOptions(assets=45))
    seen: list[str] = []
    async with client:
        await client.post("/_sim/mutate", json={"id": "a-000009", "deleted": True})
        params: dict[str, Any] = {"limit": 10, "orderBy": "dateModified asc"}
        for page in range(1, 20):
            if not use_cursor:
                params["page"] = page
            response = await client.get("/api/v4/media/", params=params, headers=BEARER)
            items = response.json()
            seen += [item["id"] for item in items]
            if use_cursor:
                if "x-bynder-nextcursor" not in response.headers:
                    break
                params["cursor"] = response.headers["x-bynder-nextcursor"]
            elif len(items) < 10:
                break
        trash = (await client.get("/api/trash/media", headers=BEARER)).json()
    expected = sorted(f"a-{n:06d}" for n in range(1, 46) if n != 9)
    assert expected == sorted(seen)
    assert len(seen) == len(set(seen))
    assert ["a-000009"] == [item["id"] for item in trash]
    assert {"id", "name", "dateRemoved", "dateCreated"} <= set(trash[0])


async def test_bynder_date_modified_filters_at_seconds_precision():
    """dateModified is inclusive and dateModifiedTo includes its whole second."""
    client, _ = make_client(DamSimOptions(assets=6))
    async with client:
        stamps = {
            "a-000001": "2027-01-01T00:00:00.000000Z",
            "a-000002": "2027-01-01T00:00:05.900000Z",
            "a-000003": "2027-01-01T00:00:06.000000Z",
        }
        for asset, stamp in stamps.items():
            await client.post("/_sim/mutate", json={"id": asset, "updated_at": stamp})
        params = {
            "dateModified": "2027-01-01T00:00:00Z",
            "dateModifiedTo": "2027-01-01T00:00:05Z",
            "orderBy": "dateModified asc",
        }
        items = (await client.get("/api/v4/media/", params=params, headers=BEARER)).json()
    assert ["a-000001", "a-000002"] == [item["id"] for item in items]
    assert "2027-01-01T00:00:05Z" == items[1]["dateModified"]


async def test_bynder_download_resolves_to_an_s3_url_without_auth():
    """download/ answers s3_file; the URL serves the binary without auth and refuses auth."""
    client, _ = make_client(DamSimOptions(assets=4))
    async with client:
        answer = (await client.get("/api/v4/media/a-000002/download/", headers=BEARER)).json()
        binary = await client.get(answer["s3_file"])
        with_auth = await client.get(answer["s3_file"], headers=BEARER)
        tampered = await client.get(answer["s3_file"].replace("Signature=", "Signature=0"))
        item = (await client.get("/generic/assets/a-000002", headers=BEARER)).json()
        missing = await client.get("/api/v4/media/a-999999/download/", headers=BEARER)
        invalid = await client.get("/api/v4/media/a-000002/download/?type=x", headers=BEARER)
    assert 200 == binary.status_code
    assert item["file"]["sha256"] == hashlib.sha256(binary.content).hexdigest()
    assert (400, 403) == (with_auth.status_code, tampered.status_code)
    assert "Original file not available" == missing.json()["message"]
    assert 400 == invalid.status_code


@pytest.mark.parametrize(
    "credentials", [{}, {"auth": BASIC}, {"headers": {"X-Api-Key": "demo-key"}}]
)
async def test_bynder_accepts_only_bearer(credentials):
    """The Bynder shape refuses requests without a Bearer token."""
    client, _ = make_client()
    async with client:
        response = await client.get("/api/v4/media/", **credentials)
    assert 401 == response.status_code


async def test_bynder_limit_is_capped_at_1000():
    """limit above 1000 is a 400."""
    client, _ = make_client()
    async with client:
        response = await client.get("/api/v4/media/", params={"limit": 1001}, headers=BEARER)
    assert 400 == response.status_code


async def _search(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(SEARCH, json=body, auth=BASIC)


async def test_cloudinary_search_pages_by_next_cursor_in_updated_order():
    """Search with sort_by updated_at pages through every live asset once, in order."""
    client, _ = make_client(DamSimOptions(assets=33))
    resources: list[dict[str, Any]] = []
    async with client:
        await client.post("/_sim/mutate", json={"id": "a-000004", "deleted": True})
        body: dict[str, Any] = {
            "expression": 'updated_at>"2000-01-01T00:00:00Z" AND resource_type:image',
            "sort_by": [{"updated_at": "asc"}, {"public_id": "asc"}],
            "max_results": 10,
        }
        for _ in range(10):
            answer = (await _search(client, body)).json()
            resources += answer["resources"]
            if not answer.get("next_cursor"):
                break
            body["next_cursor"] = answer["next_cursor"]
        assets = {item["id"]: item for item in await oracle(client)}
    assert 32 == answer["total_count"]
    assert sorted(f"damsync/a-{n:06d}" for n in range(1, 34) if n != 4) == sorted(
        r["public_id"] for r in resources
    )
    updated = [assets[r["filename"]]["updated_us"] for r in resources]
    assert sorted(updated) == updated
    expected = {"asset_id", "public_id", "format", "resource_type", "type", "created_at"}
    assert expected | {"uploaded_at", "bytes", "secure_url", "url", "status"} <= set(resources[0])
    assert resources[0]["created_at"].endswith("+00:00")


async def test_cloudinary_with_field_adds_tags_context_and_metadata():
    """tags, context and metadata appear only when asked for with with_field."""
    client, _ = make_client(DamSimOptions(assets=3))
    async with client:
        plain = (await _search(client, {"max_results": 1})).json()["resources"][0]
        body = {"max_results": 1, "with_field": ["tags", "context", "metadata"]}
        full = (await _search(client, body)).json()["resources"][0]
        delivered = await client.get(full["secure_url"])
    assert not {"tags", "context", "metadata"} & set(plain)
    assert {"tags", "context", "metadata"} <= set(full)
    assert full["metadata"]["sku"].startswith("SKU-")
    assert "title_fr_FR" in full["context"]
    assert full["etag"] == hashlib.md5(delivered.content, usedforsecurity=False).hexdigest()
    assert full["bytes"] == len(delivered.content)


async def test_cloudinary_expression_dates_and_status():
    """updated_at comparisons compare seconds; deleted assets show only with status:deleted."""
    client, _ = make_client(DamSimOptions(assets=5))
    async with client:
        await client.post(
            "/_sim/mutate", json={"id": "a-000001", "updated_at": "2027-03-01T10:00:00.5Z"}
        )
        await client.post(
            "/_sim/mutate",
            json={"id": "a-000002", "updated_at": "2027-03-01T10:00:01Z", "deleted": True},
        )
        after = await _search(client, {"expression": 'updated_at>="2027-03-01T10:00:00Z"'})
        strictly = await _search(client, {"expression": 'updated_at>"2027-03-01T10:00:00Z"'})
        deleted = await _search(client, {"expression": "status:deleted"})
    assert ["damsync/a-000001"] == [r["public_id"] for r in after.json()["resources"]]
    assert [] == strictly.json()["resources"]
    assert ["deleted"] == [r["status"] for r in deleted.json()["resources"]]


@pytest.mark.parametrize(
    "body",
    [
        {"max_results": 501},
        {"expression": "tags=sale OR tags=new"},
        {"sort_by": [{"display_name": "asc"}]},
        {"expression": 'updated_at>"not a date"'},
    ],
)
async def test_cloudinary_bad_requests_get_400(body):
    """Out-of-range max_results, unsupported clauses and sorts, bad dates answer 400."""
    client, _ = make_client()
    async with client:
        response = await _search(client, body)
    assert 400 == response.status_code
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("credentials", [{}, {"headers": BEARER}, {"auth": ("demo", "x")}])
async def test_cloudinary_needs_basic_auth(credentials):
    """The Search API refuses requests without api_key:api_secret Basic auth."""
    client, _ = make_client()
    async with client:
        response = await client.post(SEARCH, json={}, **credentials)
    assert 401 == response.status_code
