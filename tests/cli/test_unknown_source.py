"""An unknown `--source` is one usage line naming the configured sources, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli.main import main
from tests.cli.conftest import ROOT


@pytest.mark.parametrize(
    "command", [["runs"], ["sync", "--once"], ["checkpoint", "show"]], ids=" ".join
)
def test_unknown_source_is_one_usage_line(command, tmp_path: Path):
    """`--source nope` exits 2 with one error line naming the configured source."""
    config = tmp_path / "damsync.toml"
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config.write_text(example.replace("sqlite:///damsync.db", f"sqlite:///{tmp_path}/s.db"))
    result = CliRunner().invoke(main, [*command, "--source", "nope", "--config", str(config)])
    assert 2 == result.exit_code, repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    named = "sources: no source named 'nope' (configured: demo)"
    assert [f"Error: Invalid value for --source: {named}"] == errors
