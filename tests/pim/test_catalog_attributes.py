"""PimClient.upsert_product_attribute: PATCH /attributes/{code} (akeneo-api.md §6, §7)."""

from __future__ import annotations

import json

import httpx
import pytest

from daemon.core.errors import PimRejected
from daemon.pim import PimClient
from daemon.pim.models import UpsertStatus
from daemon.sim.pim import create_pim_app

from .helpers import PASSWORD, SECRET, Recorder, make_client, password_auth

BODY = {"type": "pim_catalog_asset_collection", "reference_data_name": "packshots"}


async def test_the_request_is_a_json_patch_with_the_code_in_the_body():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201 if "new" in request.url.path else 204)

    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        assert UpsertStatus.CREATED == await client.upsert_product_attribute("new", BODY)
        assert UpsertStatus.UPDATED == await client.upsert_product_attribute("old", BODY)
    request = recorder.requests[-2]
    assert ("PATCH", "/api/rest/v1/attributes/new") == (request.method, request.url.path)
    assert "application/json" == request.headers["content-type"]
    assert {**BODY, "code": "new"} == json.loads(request.content)


async def test_a_422_is_rejected_with_the_errors_parsed():
    body = {
        "code": 422,
        "message": "Validation failed.",
        "errors": [
            {"property": "reference_data_name", "message": "This property cannot be changed."}
        ],
    }
    async with make_client(Recorder(lambda r: httpx.Response(422, json=body))) as client:
        with pytest.raises(PimRejected) as caught:
            await client.upsert_product_attribute("pictures", BODY)
    assert 422 == caught.value.status_code
    assert [("reference_data_name", "This property cannot be changed.")] == [
        (e.property, e.message) for e in caught.value.errors
    ]


async def test_against_the_simulator_create_then_refuse_another_family():
    seed = {
        "users": [
            {"client_id": "client_1", "secret": SECRET, "username": "api_user"}
            | {"password": PASSWORD}
        ],
        "asset_families": [{"code": "packshots"}, {"code": "notices"}],
    }
    app = create_pim_app(seed)
    auth = password_auth()
    client = PimClient("http://pim.test", auth=auth, transport=httpx.ASGITransport(app=app))
    wanted = {**BODY, "group": "other"}
    async with client:
        assert UpsertStatus.CREATED == await client.upsert_product_attribute("pics", wanted)
        found = await client.get_product_attribute("pics")
        assert ("packshots", True) == (found.reference_data_name, found.is_asset_collection)
        with pytest.raises(PimRejected, match="cannot be changed"):
            await client.upsert_product_attribute("pics", {"reference_data_name": "notices"})
