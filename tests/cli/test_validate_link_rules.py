"""
``validate-config`` in rules mode: a hot folder mapped into the links seed's ``model_pictures``.

The PIM simulator (``config/sim/pim-links-seed.json``: a naming convention
``<product_ref>_<view>`` with ``abort_asset_creation_on_error``, two product link rules on
``sku``) runs in-process for the checks, and on loopback for the command's exit codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from daemon.cli.config_check import check_config
from daemon.cli.main import main
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app
from tests.cli.conftest import Served
from tests.folder_rig import (
    drop,
    folder_source,
    links_seed,
    local_state,
    pim_keys,
    upgraded,
)

PATTERN = "/^(?P<product_ref>[a-z]+_[0-9]+)_(?P<view>[a-z]+)$/"

#: Few, fast retries: the command meets a served simulator.
RETRIES = "[pim.http.retry]\nattempts = 2\nwait_initial = 0.01\nwait_max = 0.05\n"


def config(tmp_path: Path, pim: str, code: str = "{metadata.ref}_{metadata.view}") -> Path:
    """The hot folder ``drop`` into ``model_pictures`` under ``code``, on the PIM at ``pim``."""
    text = "[pim]\n" + pim_keys(pim) + RETRIES + local_state(tmp_path)
    text += folder_source("drop", tmp_path / "drop", "model_pictures", code)
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def validate(tmp_path: Path, data: dict[str, Any], code: str | None = None):
    """Run the checks against the simulator in-process; the report and the PIM's request counts."""
    app = create_pim_app(data)
    path = config(tmp_path, "http://pim.test", *([code] if code else []))
    settings = load_settings(path, {})
    report = await check_config(settings, pim_transport=httpx.ASGITransport(app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://p") as c:
        stats = (await c.get("/_sim/stats")).json()
    return report, stats


def product_reads(stats: dict[str, Any]) -> int:
    return sum(
        sum(counts.values())
        for key, counts in stats["requests"].items()
        if key.startswith("GET") and ("/products" in key or "/product-models" in key)
    )


async def test_codes_the_pattern_accepts_and_products_that_exist_pass(tmp_path):
    """Every sampled asset gives a code the pattern takes and its product exists: no line."""
    folder = tmp_path / "drop"
    drop(folder, "a.jpg", ref="jacket_002", view="back")
    drop(folder, "b.jpg", ref="shoe_001", view="side")  # linked by the first rule only
    drop(folder, "e.jpg", ref="jacket_001", view="back")
    report, stats = await validate(tmp_path, links_seed())
    assert ([], []) == (report.problems, report.warnings)
    # One identifier IN read per rule's other filters and kind (products, product models):
    # 2 rules x 2 kinds, whatever the number of assets.
    assert 4 == product_reads(stats)


async def test_a_code_the_pattern_refuses_is_an_error_with_abort(tmp_path):
    """The PIM would refuse the asset: the line names the asset, the code and the pattern."""
    drop(tmp_path / "drop", "a.jpg", ref="JACKET-2", view="front")
    report, _ = await validate(tmp_path, links_seed())
    assert 1 == len(report.problems), report
    line = report.problems[0]
    assert line.startswith("sources[0] (drop): asset 'a.jpg' (model_pictures): code 'JACKET_2_f")
    assert f"does not match the naming convention pattern '{PATTERN}'" in line
    assert "the PIM would refuse the asset" in line
    assert [] == report.warnings


async def test_a_code_the_pattern_refuses_is_a_warning_without_abort(tmp_path):
    """Created without the extracted values: a warning, and it then links nowhere either."""
    drop(tmp_path / "drop", "a.jpg", ref="jacket", view="front")
    report, _ = await validate(tmp_path, links_seed(abort_asset_creation_on_error=False))
    assert [] == report.problems
    assert 2 == len(report.warnings), report
    assert "code 'jacket_front' does not match the naming convention pattern" in report.warnings[0]
    assert "created without the values the convention extracts" in report.warnings[0]
    assert "{{product_ref}} has no value" in report.warnings[1]


async def test_an_asset_whose_product_does_not_exist_is_reported(tmp_path):
    """Its code is fine but no rule finds jacket_999: a warning naming the asset and rules."""
    folder = tmp_path / "drop"
    drop(folder, "a.jpg", ref="jacket_002", view="back")
    drop(folder, "c.jpg", ref="jacket_999", view="front")
    report, _ = await validate(tmp_path, links_seed())
    assert [] == report.problems
    assert 1 == len(report.warnings), report
    line = report.warnings[0]
    assert "asset 'c.jpg' (code 'jacket_999_front', model_pictures)" in line
    assert 'rule 0 (sku EQUALS "jacket_999")' in line


async def test_a_convention_on_the_main_media_checks_the_filename_damsync_sends(tmp_path):
    """The file's own name is matched, whatever the asset code."""
    folder = tmp_path / "drop"
    drop(folder, "jacket_002_back.jpg", ref="x", view="y")
    drop(folder, "IMG_0001.jpg", ref="x", view="y")
    source = {"property": "main_image", "locale": None, "channel": None}
    pattern = PATTERN.replace("$/", r"\.jpg$/")
    report, _ = await validate(tmp_path, links_seed(source=source, pattern=pattern), code="{id}")
    assert 1 == len(report.problems), report
    assert (
        "asset 'IMG_0001.jpg' (model_pictures): main media filename 'IMG_0001.jpg'"
        in (report.problems[0])
    )
    assert [] == report.warnings  # jacket_002_back.jpg links to jacket_002


def test_the_command_exits_1_on_errors_and_0_with_warnings(tmp_path):
    """Errors fail validate-config; rules-mode warnings are printed and it still exits 0."""
    folder = tmp_path / "drop"
    drop(folder, "c.jpg", ref="jacket_999", view="front")
    runner = CliRunner()
    with Served(create_pim_app(links_seed())) as pim:
        path = str(upgraded(config(tmp_path, pim.url)))
        warned = runner.invoke(main, ["validate-config", "--config", path])
        assert 0 == warned.exit_code, warned.output
        assert "warning: sources[0] (drop): asset 'c.jpg'" in warned.output
        assert "configuration OK: 1 source(s), 1 warning(s)" in warned.output
        drop(folder, "d.jpg", ref="JACKET-9", view="front")
        failed = runner.invoke(main, ["validate-config", "--config", path])
    assert 1 == failed.exit_code, failed.output
    assert "asset 'd.jpg' (model_pictures): code 'JACKET_9_front" in failed.output
