"""`damsync structure ... --pim NAME`: which of several configured PIMs a command reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from daemon.cli.main import main
from daemon.sim.pim import create_pim_app, load_seed
from tests.cli.conftest import ROOT, Served

SEED = load_seed(ROOT / "config" / "sim" / "pim-seed.json")
#: The seed with its notices family only.
NOTICES = {
    **SEED,
    "asset_families": [f for f in SEED["asset_families"] if f["code"] == "notices"],
}

SEEDED_PIM = """
[pims.seeded]
base_url = "{url}"
client_id = "demo_client"
secret = "demo_secret"
username = "demo"
password = "demo"
"""


@pytest.fixture(name="config")
def _config(tmp_path: Path) -> Iterator[Path]:
    """[pim] has the notices family only, [pims.seeded] every family: both served on loopback."""
    with Served(create_pim_app(NOTICES)) as notices, Served(create_pim_app(SEED)) as seeded:
        text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
        head, marker, rest = text.replace("http://127.0.0.1:8081", notices.url).partition(
            "# --- State"
        )
        path = tmp_path / "damsync.toml"
        path.write_text(head + SEEDED_PIM.format(url=seeded.url) + marker + rest, "utf-8")
        yield path


def export(config: Path, *extra: str) -> Result:
    args = ["structure", "export", "--config", str(config), *extra]
    return CliRunner().invoke(main, args)


def test_export_reads_the_named_pim(config):
    """--pim seeded reads [pims.seeded]; without --pim the default PIM ([pim]) is read."""
    seeded = export(config, "--pim", "seeded")
    assert 0 == seeded.exit_code, seeded.output
    assert "packshots" in seeded.stdout
    default = export(config)
    assert 0 == default.exit_code, default.output
    assert "notices" in default.stdout
    assert "packshots" not in default.stdout


def test_an_unknown_pim_is_one_clear_line(config):
    """A name no [pims.<name>] table has: exit 1, the configured names, no traceback."""
    result = export(config, "--pim", "nope")
    assert 1 == result.exit_code
    assert "no PIM named 'nope' is configured (configured: default, seeded)" in result.output
    assert "Traceback" not in result.output
