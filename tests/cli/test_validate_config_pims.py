"""
``validate-config`` with several PIMs and the mapping warnings.

Two PIM simulators: ``[pim]`` holds the demo seed's ``notices`` only, ``[pims.links]`` the links
seed's ``model_pictures`` (a transformation fills ``thumbnail`` from ``main_image``). One hot
folder writes to each: every source is checked against the structure of its own PIM, each PIM
is reached on its own, and a rule writing a transformation's target is a warning (exit 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from daemon.cli.config_check import check_config
from daemon.cli.main import main
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app, load_seed
from tests.cli.conftest import ROOT, Served
from tests.folder_rig import (
    drop,
    folder_source,
    links_seed,
    local_state,
    pim_keys,
    upgraded,
)

DEMO = load_seed(ROOT / "config" / "sim" / "pim-seed.json")
NOTICES = {**DEMO, "asset_families": [f for f in DEMO["asset_families"] if f["code"] == "notices"]}
LINKS = links_seed()

#: ``thumbnail`` is the target of the links seed's transformation.
THUMBNAIL = "thumbnail = { binary = true }"


def write_config(
    tmp_path: Path, default: str, links: str, *, extra: str = "", verify: bool = True
) -> Path:
    """``manuals`` into ``notices`` on ``[pim]``, ``pictures`` into ``model_pictures`` on links."""
    drop(tmp_path / "manuals", "m.pdf")
    drop(tmp_path / "pictures", "a.jpg", ref="jacket_002", view="back")
    pims = (
        f"[pim]\n{pim_keys(default)}[pim.http.retry]\nattempts = 1\n"
        f"[pims.links]\n{pim_keys(links)}[pims.links.http]\nverify_tls = {str(verify).lower()}\n"
        "[pims.links.http.retry]\nattempts = 1\n"
    )
    manuals = folder_source("manuals", tmp_path / "manuals", "notices", "{id}", media="media")
    pictures = folder_source(
        "pictures",
        tmp_path / "pictures",
        "model_pictures",
        "{metadata.ref}_{metadata.view}",
        pim="links",
    )
    text = pims + local_state(tmp_path) + "\n" + manuals + "\n" + pictures + extra + "\n"
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def check(tmp_path: Path, transports: dict[str, Any], **options: Any):
    path = write_config(tmp_path, "http://default.test", "http://links.test", **options)
    return await check_config(load_settings(path, {}), pim_transports=transports)


def refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_each_source_is_checked_against_its_own_pim(tmp_path):
    """notices is read from [pim], model_pictures from [pims.links]: nothing to report."""
    transports = {
        "default": httpx.ASGITransport(create_pim_app(NOTICES)),
        "links": httpx.ASGITransport(create_pim_app(LINKS)),
    }
    report = await check(tmp_path, transports)
    assert ([], []) == (report.problems, report.warnings)


async def test_a_pim_that_cannot_be_read_is_one_line_and_the_others_are_checked(tmp_path):
    """[pims.links] refuses connections: its line; the notices source is still checked."""
    transports = {
        "default": httpx.ASGITransport(create_pim_app(DEMO)),
        "links": httpx.MockTransport(refusing),
    }
    report = await check(tmp_path, transports)
    (line,) = report.problems
    assert line.startswith("pims.links: cannot read the PIM: "), line
    # The notices rule leaves nothing empty: the default PIM's source gave no line.
    assert [] == report.warnings


async def test_a_rule_writing_a_transformation_target_is_a_warning(tmp_path):
    """mapping_warnings, with each family's transformations read from its own PIM."""
    transports = {
        "default": httpx.ASGITransport(create_pim_app(NOTICES)),
        "links": httpx.ASGITransport(create_pim_app(LINKS)),
    }
    report = await check(tmp_path, transports, extra=THUMBNAIL)
    assert [] == report.problems
    (line,) = report.warnings
    assert line.startswith("sources[1].mapping.families[0].attributes.thumbnail: "), line
    assert "target of the transformation 'Thumbnail'" in line


def test_the_command_prints_the_warnings_and_exits_0(tmp_path):
    """Two PIMs served: the mapping warning and the TLS warning of [pims.links], exit 0."""
    with Served(create_pim_app(NOTICES)) as default, Served(create_pim_app(LINKS)) as links:
        path = upgraded(
            write_config(tmp_path, default.url, links.url, extra=THUMBNAIL, verify=False)
        )
        result = CliRunner().invoke(main, ["validate-config", "--config", str(path)])
    assert 0 == result.exit_code, result.output
    assert "warning: pims.links.http.verify_tls = false" in result.output
    assert "warning: sources[1].mapping.families[0].attributes.thumbnail: " in result.output
    assert "warning: pim.http.verify_tls" not in result.output
    assert "configuration OK: 2 source(s), 1 warning(s)" in result.output
