"""
``damsync migrate-pam``: where the progress is kept (the state database of ``--config`` unless
``--progress FILE``) and how it is shown (rich bars on a terminal, ``pam.progress`` log lines
otherwise).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import create_engine, func, select
from structlog.testing import capture_logs

from daemon.cli.migrate_pam import migrate_pam
from daemon.cli.migrate_pam_inputs import open_progress
from daemon.cli.migrate_pam_output import ProgressView, progress_view
from daemon.pam.pam_progress import ProgressFile
from daemon.store import PamProgressStore, SchemaNotAtHeadError
from daemon.store.database import upgrade
from daemon.store.pam_tables import pam_assets
from tests.pam.helpers import FIXTURES

PIM = (
    'base_url = "http://pim.test"\nclient_id = "c"\nsecret = "s"\nusername = "u"\npassword = "p"\n'
)


def _config(tmp_path: Path, url: str, pims: str = f"[pim]\n{PIM}") -> Path:
    config = tmp_path / "damsync.toml"
    config.write_text(f'{pims}\n[store]\nurl = "{url}"\n', encoding="utf-8")
    return config


class _Reads:
    def __init__(self, n: int) -> None:
        self.n = n

    async def reads(self) -> AsyncIterator[int]:
        for read in range(self.n):
            yield read


async def _drain(view: ProgressView, n: int) -> None:
    async for _ in view.source(_Reads(n)).reads():  # type: ignore[arg-type]
        pass


async def test_without_a_terminal_progress_is_log_lines_every_n_assets():
    """Not a terminal: a pam.progress line every N assets and one at the end; no bar drawn."""
    screen = io.StringIO()
    with capture_logs() as logs:
        with ProgressView(5, Console(file=screen, force_terminal=False), every=2) as view:
            assert view.bars is None
            await _drain(view, 5)
    lines = [entry for entry in logs if entry["event"] == "pam.progress"]
    assert [2, 4, 5] == [line["assets"] for line in lines]
    assert {5} == {line["total"] for line in lines}
    assert "" == screen.getvalue()


async def test_on_a_terminal_progress_is_rich_bars_and_no_log_lines():
    """A terminal: the assets bar reaches its total; no pam.progress log line."""
    screen = io.StringIO()
    with capture_logs() as logs:
        with ProgressView(5, Console(file=screen, force_terminal=True, width=100), every=2) as view:
            assert view.bars is not None
            await _drain(view, 5)
    assert [] == [entry for entry in logs if entry["event"] == "pam.progress"]
    assert "assets" in screen.getvalue() and "5/5" in screen.getvalue()


def test_stdout_that_is_no_terminal_gets_no_bars():
    """Under pytest stdout is captured, not a terminal: the default view logs instead."""
    with progress_view(3) as view:
        assert view.bars is None


def test_the_progress_is_the_state_database_of_the_config_scoped_by_pim(tmp_path):
    """No --progress: the config's [store] url, rows for the chosen PIM's configured name."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    config = _config(tmp_path, url, f"[pim]\n{PIM}\n[pims.eu]\n{PIM}")
    params = {"config_path": config, "pim_name": "eu", "progress_path": None}
    with open_progress(params) as progress:
        assert isinstance(progress, PamProgressStore)
        assert "eu" == progress.pim
    with open_progress({**params, "progress_path": tmp_path / "p.sqlite"}) as local:
        assert isinstance(local, ProgressFile)


def test_a_state_database_not_at_head_is_refused_with_the_fix(tmp_path):
    """An old or empty state database: the progress is not opened (damsync db upgrade)."""
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaNotAtHeadError, match="damsync db upgrade"):
        open_progress({"config_path": config, "pim_name": None, "progress_path": None})


def test_a_cli_migration_keeps_its_progress_in_the_state_database(tmp_path, monkeypatch):
    """No --progress: the assets written are rows of the state database, for PIM default."""
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    from daemon.sim.pim import create_pim_app
    from tests.pam.test_migrate_pam_cli import PIM_SEED

    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    pim_app = create_pim_app(PIM_SEED)
    result = CliRunner().invoke(
        migrate_pam,
        [
            "--from-csv",
            str(FIXTURES / "export_40"),
            "--files",
            str(FIXTURES / "files"),
            "--config",
            str(_config(tmp_path, url)),
            "--report",
            str(tmp_path / "r.csv"),
        ],
        obj={"pim_transport": httpx.ASGITransport(app=pim_app)},
        catch_exceptions=False,
    )
    assert 0 == result.exit_code, result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).where(pam_assets.c.pim == "default")).scalar_one()
    engine.dispose()
    assert 8 == rows
