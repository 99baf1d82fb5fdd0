"""``validate-config`` checks each direct product link rule's attribute on the live PIM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from daemon.cli.config_check import Report, check_config
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app
from tests.cli.test_validate_link_rules import config
from tests.folder_rig import links_seed


def rule(attribute: str, **keys: str) -> str:
    """One direct product link rule writing ``attribute``, the product named by ``ref``."""
    lines = [f'attribute = "{attribute}"', 'identifier_path = "metadata.ref"']
    lines += [f'{key} = "{value}"' for key, value in keys.items()]
    return "[[sources.mapping.families.product_links]]\n" + "\n".join(lines) + "\n"


async def check(tmp_path: Path, data: dict[str, Any], *rules: str) -> Report:
    """validate-config's checks of the rules-mode config with ``rules``, on ``data``'s PIM."""
    path = config(tmp_path, "http://pim.test")
    path.write_text(path.read_text(encoding="utf-8") + "".join(rules), encoding="utf-8")
    transport = httpx.ASGITransport(create_pim_app(data))
    return await check_config(load_settings(path, {}), pim_transport=transport)


async def test_each_rule_that_cannot_write_its_attribute_is_one_line(tmp_path: Path):
    report = await check(
        tmp_path,
        links_seed(),
        rule("model_pictures"),
        rule("name"),
        rule("nowhere"),
        rule("main_picture", locale="en_US"),
        rule("model_pictures", mode="replace"),
    )
    where = "sources[0].mapping.families[0].product_links"
    assert [
        f"{where}[1]: product attribute 'name' is a pim_catalog_text, not an asset collection",
        f"{where}[2]: product attribute 'nowhere' does not exist in the PIM",
        f"{where}[3]: product attribute 'main_picture' has no locale: remove locale from the rule",
    ] == [line for line in report.problems if line.startswith(where)]


async def test_a_wrong_family_or_a_missing_scope_is_named_and_good_rules_pass(tmp_path: Path):
    data = links_seed()
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
    report = await check(
        tmp_path,
        data,
        rule("gallery", locale="en_US", scope="ecommerce"),
        rule("packshots"),
        rule("gallery", locale="en_US"),
    )
    where = "sources[0].mapping.families[0].product_links"
    assert [
        f"{where}[1]: product attribute 'packshots' holds assets of family 'packshots', "
        "not 'model_pictures'",
        f"{where}[2]: product attribute 'gallery' needs a scope: set scope in the rule",
    ] == [line for line in report.problems if line.startswith(where)]
