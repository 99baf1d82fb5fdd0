"""
Product-model links in API mode, end to end through the CLI: the legacy PAM simulator serves
products and product models (roots and sub models) with PAM collections -> migrate-pam
--from-api -> the PIM simulator, which holds the matching models: their collections are
written and verified, and the target's values equal the legacy ones.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from daemon.cli.migrate_pam import migrate_pam
from daemon.sim.pim import create_pim_app
from tests.pam.helpers import BASE, CREDENTIALS, sim_app, sim_client

COLLECTIONS = ("asset_notices", "asset_pictures")
PRODUCTS = 12


def _seed(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The target: the legacy products, ``models`` and both collection attributes."""
    return {
        "users": [{"client_id": "c", "secret": "s", "username": "u", "password": "p"}],
        "locales": ["de_DE", "en_US", "fr_FR"],
        "channels": [
            {"code": "ecommerce", "locales": ["de_DE", "en_US", "fr_FR"]},
            {"code": "mobile", "locales": ["en_US"]},
            {"code": "print", "locales": ["en_US", "fr_FR"]},
        ],
        "asset_families": [],
        "product_attributes": [
            {"code": a, "type": "pim_catalog_asset_collection", "reference_data_name": "pam_assets"}
            for a in COLLECTIONS
        ],
        "products": [{"identifier": f"product_{i:05d}"} for i in range(PRODUCTS)],
        "product_models": models,
    }


async def _legacy_models(pam_app: Any) -> list[dict[str, Any]]:
    """The legacy product models as the PAM simulator lists them (one page)."""
    async with sim_client(pam_app) as (client, auth):
        answer = await client.get(
            "/api/rest/v1/product-models", params={"limit": "100"}, headers=auth
        )
    assert 200 == answer.status_code
    items: list[dict[str, Any]] = answer.json()["_embedded"]["items"]
    return items


def _target_models(legacy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same models in the target (code, family variant, parent), with no values yet."""
    return [
        {"code": m["code"], "family_variant": m["family_variant"], "parent": m["parent"]}
        for m in legacy
    ]


def _run(tmp_path: Path, pam_app: Any, pim_app: Any) -> Result:
    config = tmp_path / "damsync.toml"
    config.write_text(
        '[pim]\nbase_url = "http://pim.test"\nclient_id = "c"\nsecret = "s"\n'
        'username = "u"\npassword = "p"\n',
        encoding="utf-8",
    )
    obj = {
        "pam_transport": httpx.ASGITransport(app=pam_app),
        "pim_transport": httpx.ASGITransport(app=pim_app),
    }
    args = ["--from-api", BASE, "--config", str(config), "--report", str(tmp_path / "r.csv")]
    args += ["--progress", str(tmp_path / "p.sqlite")]
    return CliRunner().invoke(migrate_pam, args, env=CREDENTIALS, obj=obj, catch_exceptions=False)


def _collections(body: dict[str, Any]) -> dict[str, list[str]]:
    """A product model's collection values: attribute -> asset codes."""
    values = body.get("values", {})
    return {a: list(values[a][0]["data"]) for a in COLLECTIONS if a in values}


def _reasons(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["reason"] for row in csv.DictReader(handle, delimiter=";")]


def test_the_models_collections_are_written_and_verified(tmp_path):
    """6 legacy models (3 roots, 3 sub models holding their parent's pictures too), all in the
    target: every model's collections are written, verify reads them back and passes, and each
    target model's values equal the legacy listing's."""
    pam_app = sim_app(assets=40, product_models=6, pitfalls=False)
    legacy = asyncio.run(_legacy_models(pam_app))
    assert 6 == len(legacy)
    assert [None, "model_00000"] == [m["parent"] for m in legacy[:2]]
    pim_app = create_pim_app(_seed(_target_models(legacy)))
    result = _run(tmp_path, pam_app, pim_app)
    assert 0 == result.exit_code, result.output
    out = " ".join(result.output.split())
    assert (
        f"product links: {PRODUCTS} product(s) and 6 product model(s) read, 17 written in "
        "2 PATCH(es), 1 unchanged, 0 not in the target, 0 refused"
    ) in out  # 11 products and 6 models written: one PATCH per kind
    assert "verify: 25 collection value(s) read back, passed" in out  # 16 products' + 9 models'
    assert "lists no product models" not in out
    stored = pim_app.state.pim.product_models
    expected = {m["code"]: _collections(m) for m in legacy}
    assert expected == {code: _collections(stored[code].body) for code in expected}
    assert all(expected.values())  # every model links something: the check is not vacuous
    written = sum(len(v) for v in expected.values())
    assert 9 == written  # 3 roots x pictures + 3 sub models x (pictures, notices)
    # The parents in the target are untouched by the links.
    assert [m["parent"] for m in legacy] == [stored[m["code"]].body["parent"] for m in legacy]


def test_a_dangling_code_and_a_model_missing_in_the_target_are_reported(tmp_path):
    """Pitfalls on: model_00002 (and its sub model, by inheritance) links an asset that does not
    exist, model_00004 one whose legacy code was not migrated, and model_00005 is not in the
    target: report lines; the rest of their collections is written."""
    pam_app = sim_app(assets=40, product_models=6)
    legacy = asyncio.run(_legacy_models(pam_app))
    assert "pam_deleted_asset" in _collections(legacy[2])["asset_pictures"]
    pim_app = create_pim_app(_seed(_target_models(legacy[:5])))
    result = _run(tmp_path, pam_app, pim_app)
    assert 0 == result.exit_code, result.output
    out = " ".join(result.output.split())
    assert f"{PRODUCTS} product(s) and 6 product model(s) read" in out
    reasons = _reasons(tmp_path / "r.csv")
    missing = "product model model_00005 is not in the target PIM: its collections are not written"
    assert missing in reasons
    dangling = [r for r in reasons if "product model" in r and "pam_deleted_asset" in r]
    assert {"model_00002", "model_00003"} == {r.split()[2].rstrip(":") for r in dangling}
    stored = pim_app.state.pim.product_models
    assert "model_00005" not in stored
    pictures = _collections(stored["model_00002"].body)["asset_pictures"]
    assert [c for c in _collections(legacy[2])["asset_pictures"] if c != "pam_deleted_asset"] == (
        pictures
    )
    assert ["pam_000027-old", "pam_000008"] == _collections(legacy[4])["asset_pictures"]
    assert any(
        r.startswith("product model model_00004: asset pam_000027-old was not migrated")
        for r in reasons
    )
    assert ["pam_000008"] == _collections(stored["model_00004"].body)["asset_pictures"]
