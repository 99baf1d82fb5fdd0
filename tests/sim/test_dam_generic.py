"""The DAM simulator's generic REST shape, driven with plain httpx through ASGITransport."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from daemon.sim.dam.dam_app import DamSimOptions
from tests.sim.test_dam_helpers import BEARER, Clock, make_client, oracle


async def _all_pages(client: httpx.AsyncClient, style: str, params: dict[str, Any]) -> list[str]:
    """Page through /generic/assets with one style; returns the ids in the order served."""
    seen: list[str] = []
    page, offset, url = 1, 0, "/generic/assets"
    query = dict(params)
    for _ in range(1000):
        if style == "page":
            query["page"] = page
        elif style == "offset":
            query["offset"] = offset
        response = await client.get(url, params=query or None, headers=BEARER)
        assert 200 == response.status_code, response.text
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        page, offset = page + 1, offset + len(body["items"])
        if style in ("page", "offset"):
            if not body["items"]:
                return seen
        elif style == "cursor":
            if body["next_cursor"] is None:
                return seen
            query["cursor"] = body["next_cursor"]
        elif style == "next":
            if body["next"] is None:
                return seen
            url, query = body["next"], {}
        else:
            link = response.headers.get("link")
            if link is None:
                return seen
            url, query = link.split(">")[0].lstrip("<"), {}
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("style", ["page", "offset", "cursor", "next", "link"])
@pytest.mark.parametrize("sort", [None, "updated_at"])
async def test_each_pagination_style_serves_every_asset_once(style, sort):
    """Without changes, every pagination style and order serves each asset exactly once."""
    client, _ = make_client(DamSimOptions(assets=57))
    params = {"limit": 10, **({"sort": sort} if sort else {})}
    async with client:
        seen = await _all_pages(client, style, params)
        expected = sorted(item["id"] for item in await oracle(client))
    assert expected == sorted(seen)
    assert 57 == len(seen)


@pytest.mark.parametrize("style", ["cursor", "next", "link"])
@pytest.mark.parametrize("sort", [None, "updated_at"])
async def test_keyset_pages_lose_nothing_while_the_dam_changes(style, sort):
    """With ticks between pages, keyset pages still serve every asset that did not change."""
    options = DamSimOptions(assets=120, changes_per_tick=5, adds_per_tick=2, deletes_per_tick=2)
    client, clock = make_client(options)
    touched: set[str] = set()
    seen: list[str] = []
    async with client:
        before = {item["id"] for item in await oracle(client)}
        url, query = "/generic/assets", {"limit": 20, **({"sort": sort} if sort else {})}
        for _ in range(200):  # 20 per page outpaces 9 events per tick
            response = await client.get(url, params=query or None, headers=BEARER)
            body = response.json()
            seen += [item["id"] for item in body["items"]]
            clock.advance(1)
            tick = (await client.post("/_sim/tick")).json()
            touched |= set(tick["changed"]) | set(tick["deleted"])
            if style == "cursor":
                if body["next_cursor"] is None:
                    break
                query["cursor"] = body["next_cursor"]
            elif style == "next":
                if body["next"] is None:
                    break
                url, query = body["next"], {}
            else:
                if "link" not in response.headers:
                    break
                url, query = response.headers["link"].split(">")[0].lstrip("<"), {}
    unchanged = before - touched
    assert touched  # the test is only meaningful when assets moved under the pager
    assert set() == unchanged - set(seen)


async def test_equal_timestamp_burst_and_tombstones_after_a_tick():
    """After a tick, several assets share one updated_at and deleted ones are tombstones."""
    options = DamSimOptions(assets=40, same_timestamp_burst=4, deletes_per_tick=2)
    client, _ = make_client(options)
    async with client:
        tick = (await client.post("/_sim/tick")).json()
        response = await client.get(
            "/generic/assets",
            params={"sort": "updated_at", "updated_since": tick["burst_updated_at"]},
            headers=BEARER,
        )
        items = response.json()["items"]
        tombstones = (
            await client.get(
                "/generic/assets", params={"ids": ",".join(tick["deleted"])}, headers=BEARER
            )
        ).json()["items"]
        gone = await client.get(tombstones[0]["id"].join(["/generic/files/", "/1"]), headers=BEARER)
    stamps = Counter(item["updated_at"] for item in items)
    assert 4 == stamps[tick["burst_updated_at"]]
    assert 2 == len(tombstones)
    assert all(t["deleted"] and t["file"] is None for t in tombstones)
    assert all(t["updated_at"] >= tick["burst_updated_at"] for t in tombstones)
    assert 404 == gone.status_code


async def test_time_window_is_inclusive_below_and_exclusive_above():
    """updated_since includes its instant and updated_before excludes its instant."""
    client, _ = make_client(DamSimOptions(assets=10))
    async with client:
        for asset, stamp in (
            ("a-000001", "2027-01-01T00:00:00Z"),
            ("a-000002", "2027-01-02T00:00:00Z"),
        ):
            await client.post("/_sim/mutate", json={"id": asset, "updated_at": stamp})
        response = await client.get(
            "/generic/assets",
            params={
                "updated_since": "2027-01-01T00:00:00Z",
                "updated_before": "2027-01-02T00:00:00Z",
            },
            headers=BEARER,
        )
    body = response.json()
    assert ["a-000001"] == [item["id"] for item in body["items"]]
    assert 1 == body["total"]


async def test_files_match_the_listing_and_old_versions_stay_downloadable():
    """A file's bytes, length and type match the item; older versions stay served."""
    client, _ = make_client(DamSimOptions(assets=5))
    async with client:
        await client.post("/_sim/mutate", json={"id": "a-000002", "new_file": True})
        item = (await client.get("/generic/assets/a-000002", headers=BEARER)).json()
        current = await client.get(item["file"]["url"], headers=BEARER)
        first = await client.get("/generic/files/a-000002/1", headers=BEARER)
        future = await client.get("/generic/files/a-000002/3", headers=BEARER)
        unknown = await client.get("/generic/assets/a-999999", headers=BEARER)
    assert urlsplit(item["file"]["url"]).path == "/generic/files/a-000002/2"
    assert item["file"]["sha256"] == hashlib.sha256(current.content).hexdigest()
    assert str(item["file"]["size"]) == current.headers["content-length"]
    assert item["file"]["mime_type"] == current.headers["content-type"]
    assert current.content != first.content
    assert (200, 404, 404) == (first.status_code, future.status_code, unknown.status_code)


async def test_ids_endpoint_pages_live_ids():
    """GET /generic/ids pages through exactly the live ids."""
    client, _ = make_client(DamSimOptions(assets=30))
    async with client:
        await client.post("/_sim/mutate", json={"id": "a-000007", "deleted": True})
        ids, cursor = [], None
        while True:
            params = {"limit": 8, **({"cursor": cursor} if cursor else {})}
            body = (await client.get("/generic/ids", params=params, headers=BEARER)).json()
            ids += body["ids"]
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert [f"a-{n:06d}" for n in range(1, 31) if n != 7] == ids


@pytest.mark.parametrize(
    "credentials",
    [
        {"headers": {"Authorization": "Bearer demo-token"}},
        {"headers": {"X-Api-Key": "demo-key"}},
        {"params": {"api_key": "demo-key"}},
        {"auth": ("demo", "demo")},
    ],
)
async def test_each_credential_style_is_accepted(credentials):
    """Bearer token, X-Api-Key header, api_key query and Basic auth are all accepted."""
    client, _ = make_client()
    async with client:
        response = await client.get("/generic/assets/a-000001", **credentials)
    assert 200 == response.status_code


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"headers": {"X-Api-Key": "wrong"}},
        {"auth": ("demo", "wrong")},
        {"headers": {"Authorization": "Basic !!!"}},
    ],
)
async def test_missing_or_bad_credentials_get_401(credentials):
    """Requests without valid credentials are refused with 401."""
    client, _ = make_client()
    async with client:
        response = await client.get("/generic/assets", **credentials)
    assert 401 == response.status_code


async def test_oauth_client_credentials_token_is_accepted_as_bearer():
    """A token from POST /oauth/token works as Bearer; bad clients and grants are refused."""
    client, _ = make_client()
    async with client:
        form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo"}
        token = (await client.post("/oauth/token", data=form)).json()
        basic = base64.b64encode(b"demo:demo").decode()
        via_basic = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        ok = await client.get(
            "/generic/assets", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        bad = await client.post("/oauth/token", data={**form, "client_secret": "nope"})
        grant = await client.post("/oauth/token", data={**form, "grant_type": "password"})
    assert ("bearer", 3600) == (token["token_type"], token["expires_in"])
    assert (200, 200) == (via_basic.status_code, ok.status_code)
    assert (401, 400) == (bad.status_code, grant.status_code)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 501}, "limit"),
        ({"page": 1, "offset": 0}, "offset"),
        ({"updated_since": "2026-01-01T00:00:00"}, "updated_since"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"cursor": "garbage"}, "cursor"),
        ({"sort": "title"}, "sort"),
    ],
)
async def test_bad_parameters_get_a_400_naming_the_parameter(params, param):
    """Invalid query parameters answer 400 with the parameter's name."""
    client, _ = make_client()
    async with client:
        response = await client.get("/generic/assets", params=params, headers=BEARER)
    assert 400 == response.status_code
    assert param == response.json()["param"]


async def test_dam_time_is_in_date_header_and_server_time():
    """The DAM's clock appears in the Date header and in server_time."""
    client, clock = make_client(clock=Clock())
    async with client:
        response = await client.get("/generic/assets", params={"limit": 1}, headers=BEARER)
        helper = await client.get("/_sim/stats")
    assert "Mon, 23 Nov 2026 08:00:00 GMT" == response.headers["date"]
    assert "2026-11-23T08:00:00.000000Z" == response.json()["server_time"]
    assert response.headers["date"] == helper.headers["date"]
    assert clock() == clock.now


async def test_next_url_never_carries_the_api_key():
    """The next URL and Link header leave out the api_key query credential."""
    client, _ = make_client()
    async with client:
        response = await client.get("/generic/assets", params={"limit": 5, "api_key": "demo-key"})
    assert 200 == response.status_code
    assert "demo-key" not in response.json()["next"]
    assert "demo-key" not in response.headers["link"]
    assert isinstance(response, httpx.Response)
