"""
``validate-config`` with several PIMs and the mapping warnings.

Two PIM simulators: ``[pim]`` holds the demo seed's ``notices`` only, ``[pims.links]`` the links
seed's ``model_pictures`` (a transformation fills ``thumbnail`` from ``main_image``). One hot
folder writes to each: every source is checked against the structure of its own PIM, each PIM
is reached on its own, and a rule writing a transformation's target is a warning (exit 0).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from daemon.cli.config_check import check_config
from daemon.cli.main import main
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import Store
from tests.cli.conftest import ROOT, Served

DEMO = load_seed(ROOT / "config" / "sim" / "pim-seed.json")
NOTICES = {**DEMO, "asset_families": [f for f in DEMO["asset_families"] if f["code"] == "notices"]}
LINKS = load_seed(ROOT / "config" / "sim" / "pim-links-seed.json")
OLD = time.time() - 3600

PIM = """
base_url = "{url}"
client_id = "demo_client"
secret = "demo_secret"
username = "demo"
password = "demo"
"""
CONFIG = """
[pim]{default}
[pim.http.retry]
attempts = 1
[pims.links]{links}
[pims.links.http]
verify_tls = {verify}
[pims.links.http.retry]
attempts = 1
[store]
url = "sqlite:///{tmp}/state.db"
[server]
enabled = false
[runtime]
pid_file = "{tmp}/damsync.pid"

[[sources]]
name = "manuals"
kind = "folder"
[sources.folder]
path = "{tmp}/manuals"
settle_seconds = 0
[sources.mapping]
unmatched = "skip"
[[sources.mapping.families]]
family = "notices"
code = "{{id}}"
[sources.mapping.families.attributes]
media = {{ binary = true, required = true }}

[[sources]]
name = "pictures"
kind = "folder"
pim = "links"
[sources.folder]
path = "{tmp}/pictures"
settle_seconds = 0
[sources.mapping]
unmatched = "skip"
[[sources.mapping.families]]
family = "model_pictures"
code = "{{metadata.ref}}_{{metadata.view}}"
[sources.mapping.families.attributes]
main_image = {{ binary = true, required = true }}
{extra}
"""
#: ``thumbnail`` is the target of the links seed's transformation.
THUMBNAIL = "thumbnail = { binary = true }"


def drop(folder: Path, name: str, **metadata: str) -> None:
    """A file and its sidecar, an hour old (settled)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = "{" + ", ".join(f'"{k}": "{v}"' for k, v in metadata.items()) + "}"
    (folder / f"{name}.json").write_text(body, encoding="utf-8")
    (folder / name).write_bytes(f"jpeg {name}".encode())
    for path in (folder / f"{name}.json", folder / name):
        os.utime(path, (OLD, OLD))


def write_config(
    tmp_path: Path, default: str, links: str, *, extra: str = "", verify: bool = True
) -> Path:
    drop(tmp_path / "manuals", "m.pdf")
    drop(tmp_path / "pictures", "a.jpg", ref="jacket_002", view="back")
    text = CONFIG.format(
        default=PIM.format(url=default),
        links=PIM.format(url=links),
        tmp=tmp_path,
        extra=extra,
        verify=str(verify).lower(),
    )
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
        path = write_config(tmp_path, default.url, links.url, extra=THUMBNAIL, verify=False)
        store = Store.from_url(load_settings(path, {}).store.url)
        store.upgrade()
        store.dispose()
        result = CliRunner().invoke(main, ["validate-config", "--config", str(path)])
    assert 0 == result.exit_code, result.output
    assert "warning: pims.links.http.verify_tls = false" in result.output
    assert "warning: sources[1].mapping.families[0].attributes.thumbnail: " in result.output
    assert "warning: pim.http.verify_tls" not in result.output
    assert "configuration OK: 2 source(s), 1 warning(s)" in result.output
