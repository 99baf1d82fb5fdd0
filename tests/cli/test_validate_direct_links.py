"""``validate-config`` checks each direct product link rule's attribute on the live PIM."""

from __future__ import annotations

from pathlib import Path

import httpx

from daemon.cli.config_check import check_config
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app
from tests.cli.test_validate_link_rules import config, seed

RULES = """
[[sources.mapping.families.product_links]]
attribute = "model_pictures"
identifier_path = "metadata.ref"
[[sources.mapping.families.product_links]]
attribute = "name"
identifier_path = "metadata.ref"
[[sources.mapping.families.product_links]]
attribute = "nowhere"
identifier_path = "metadata.ref"
[[sources.mapping.families.product_links]]
attribute = "main_picture"
identifier_path = "metadata.ref"
locale = "en_US"
[[sources.mapping.families.product_links]]
attribute = "model_pictures"
identifier_path = "metadata.ref"
mode = "replace"
"""


async def test_each_rule_that_cannot_write_its_attribute_is_one_line(tmp_path: Path):
    app = create_pim_app(seed())
    path = config(tmp_path, "http://pim.test")
    path.write_text(path.read_text(encoding="utf-8") + RULES, encoding="utf-8")
    settings = load_settings(path, {})
    report = await check_config(settings, pim_transport=httpx.ASGITransport(app))
    where = "sources[0].mapping.families[0].product_links"
    assert [
        f"{where}[1]: product attribute 'name' is a pim_catalog_text, not an asset collection",
        f"{where}[2]: product attribute 'nowhere' does not exist in the PIM",
        f"{where}[3]: product attribute 'main_picture' has no locale: remove locale from the rule",
    ] == [line for line in report.problems if line.startswith(where)]


async def test_a_wrong_family_or_a_missing_scope_is_named_and_good_rules_pass(tmp_path: Path):
    data = seed()
    data["product_attributes"].append(
        {
            "code": "gallery",
            "type": "pim_catalog_asset_collection",
            "reference_data_name": "model_pictures",
            "localizable": True,
            "scopable": True,
        }
    )
    data["product_attributes"].append(
        {
            "code": "packshots",
            "type": "pim_catalog_asset_collection",
            "reference_data_name": "packshots",
        }
    )
    app = create_pim_app(data)
    path = config(tmp_path, "http://pim.test")
    rules = """
[[sources.mapping.families.product_links]]
attribute = "gallery"
identifier_path = "metadata.ref"
locale = "en_US"
scope = "ecommerce"
[[sources.mapping.families.product_links]]
attribute = "packshots"
identifier_path = "metadata.ref"
[[sources.mapping.families.product_links]]
attribute = "gallery"
identifier_path = "metadata.ref"
locale = "en_US"
"""
    path.write_text(path.read_text(encoding="utf-8") + rules, encoding="utf-8")
    report = await check_config(load_settings(path, {}), pim_transport=httpx.ASGITransport(app))
    where = "sources[0].mapping.families[0].product_links"
    assert [
        f"{where}[1]: product attribute 'packshots' holds assets of family 'packshots', "
        "not 'model_pictures'",
        f"{where}[2]: product attribute 'gallery' needs a scope: set scope in the rule",
    ] == [line for line in report.problems if line.startswith(where)]
