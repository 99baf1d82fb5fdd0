"""`damsync sim dam --localized-files`: files per locale and per channel in the metadata."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.sim.dam import dam_app


@pytest.mark.parametrize(("flags", "expected"), [(["--localized-files"], True), ([], False)])
def test_the_flag_turns_localized_files_on(monkeypatch, flags, expected):
    """The option reaches DamSimOptions; without it the metadata has no files."""
    built: list[Any] = []
    monkeypatch.setattr(dam_app, "create_dam_app", lambda options, **_: built.append(options))
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(main, ["sim", "dam", "--assets", "3", *flags])
    assert 0 == result.exit_code, result.output
    assert [expected] == [options.localized_files for options in built]


def test_the_flag_is_in_the_help():
    result = CliRunner().invoke(main, ["sim", "dam", "--help"])
    assert "--localized-files" in result.output
