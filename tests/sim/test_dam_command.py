"""`damsync sim dam` with a bad option: one line naming it, no traceback."""

from __future__ import annotations

from click.testing import CliRunner

from daemon.cli.main import main


def test_too_many_assets_is_one_line_not_a_traceback() -> None:
    result = CliRunner().invoke(main, ["sim", "dam", "--assets", "1000000"])
    assert 2 == result.exit_code, result.output
    assert "dam_sim.assets: must be <= 999999, got 1000000" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
