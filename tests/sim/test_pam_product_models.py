"""
The legacy PAM simulator's product models (``GET /product-models``, ``/product-models/{code}``):
the 2.x/3.x shape, page and search_after pagination sorted by code, the ``attributes`` filter,
the 404, data from the seed, and the ``--product-models`` option of ``damsync sim pam``.
"""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from daemon.sim.pam import PamSimOptions, pam_command
from tests.pam.helpers import BASE, sim_app, sim_client

MODELS = "/api/rest/v1/product-models"


async def _codes_and_values(app: Any) -> list[tuple[str, Any]]:
    async with sim_client(app) as (client, auth):
        body = (await client.get(MODELS, params={"limit": "100"}, headers=auth)).json()
    return [(m["code"], m["values"]) for m in body["_embedded"]["items"]]


async def test_a_model_has_the_legacy_shape_and_its_parents_collections():
    async with sim_client(sim_app(assets=40, product_models=4, pitfalls=False)) as (client, auth):
        root = (await client.get(f"{MODELS}/model_00000", headers=auth)).json()
        sub = (await client.get(f"{MODELS}/model_00001", headers=auth)).json()
        missing = await client.get(f"{MODELS}/model_00004", headers=auth)
    assert ["code", "family_variant", "parent", "categories", "values", "created", "updated"] == (
        list(root)
    )
    assert (None, "model_00000") == (root["parent"], sub["parent"])
    assert "clothing_color" == root["family_variant"] == sub["family_variant"]
    pictures = root["values"]["asset_pictures"]
    assert 1 == len(pictures) and (None, None) == (pictures[0]["locale"], pictures[0]["scope"])
    assert pictures[0]["data"] and all(c.startswith("pam_") for c in pictures[0]["data"])
    assert "asset_notices" not in root["values"]
    assert pictures == sub["values"]["asset_pictures"]  # inherited
    assert 1 == len(sub["values"]["asset_notices"][0]["data"])
    assert 404 == missing.status_code
    assert 'Product model "model_00004" does not exist.' == missing.json()["message"]


async def test_search_after_follows_next_links_in_code_order_with_the_attributes_filter():
    app = sim_app(assets=40, product_models=5)
    seen: list[str] = []
    async with sim_client(app) as (client, auth):
        params = {"pagination_type": "search_after", "limit": "2", "attributes": "asset_notices"}
        answer = await client.get(MODELS, params=params, headers=auth)
        while True:
            body = answer.json()
            for item in body["_embedded"]["items"]:
                seen.append(item["code"])
                assert set(item["values"]) <= {"asset_notices"}
                assert ("asset_notices" in item["values"]) is (item["parent"] is not None)
            if "next" not in body["_links"]:
                break
            assert body["_links"]["next"]["href"].startswith(f"{BASE}{MODELS}?")
            answer = await client.get(body["_links"]["next"]["href"], headers=auth)
        after = await client.get(
            MODELS,
            params={"pagination_type": "search_after", "search_after": "model_00002"},
            headers=auth,
        )
    assert [f"model_{i:05d}" for i in range(5)] == seen
    assert ["model_00003", "model_00004"] == [m["code"] for m in after.json()["_embedded"]["items"]]


async def test_page_pagination_counts_and_refuses_over_100():
    async with sim_client(sim_app(assets=40, product_models=3)) as (client, auth):
        page = await client.get(
            MODELS, params={"page": "2", "limit": "2", "with_count": "true"}, headers=auth
        )
        too_many = await client.get(MODELS, params={"limit": "101"}, headers=auth)
        unknown = await client.get(MODELS, params={"pagination_type": "cursor"}, headers=auth)
    body = page.json()
    assert (2, 3) == (body["current_page"], body["items_count"])
    assert ["model_00002"] == [m["code"] for m in body["_embedded"]["items"]]
    assert "next" not in body["_links"]
    assert (422, 422) == (too_many.status_code, unknown.status_code)


async def test_none_by_default_and_the_data_follows_the_seed():
    assert [] == await _codes_and_values(sim_app(assets=40))
    first = await _codes_and_values(sim_app(assets=40, product_models=6, seed=1))
    again = await _codes_and_values(sim_app(assets=40, product_models=6, seed=1))
    other = await _codes_and_values(sim_app(assets=40, product_models=6, seed=2))
    assert first == again
    assert [c for c, _ in first] == [c for c, _ in other]
    assert first != other


def test_the_count_is_checked():
    with pytest.raises(ValueError, match="product_models must be 0..99999"):
        PamSimOptions(product_models=-1)


@pytest.mark.parametrize(("args", "expected"), [([], 4), (["--product-models", "9"], 9)])
def test_the_command_serves_product_models(monkeypatch, args, expected):
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(pam_command, args, catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    assert expected == served[0].state.dataset.options.product_models


def test_the_command_refuses_a_bad_count():
    result = CliRunner().invoke(pam_command, ["--product-models", "-1"])
    assert 2 == result.exit_code
    assert "product_models must be 0..99999" in result.output
