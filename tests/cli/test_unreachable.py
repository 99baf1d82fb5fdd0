"""
One-shot commands against a PIM and a DAM that refuse connections: they give up within seconds,
with one line naming the URL and the cause, while the daemon keeps its configured retry policy.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from daemon.cli.main import main
from daemon.core import secret_values
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sources.rest import RestSource
from daemon.store import Store
from daemon.telemetry import logs
from daemon.upstream.policy import ONE_SHOT_RETRY
from tests.cli.conftest import ROOT

#: Generous: the configured policy (6 attempts, 120 s deadline) took over a minute.
SECONDS = 20


@dataclass
class Closed:
    config: Path
    url: str


@pytest.fixture(name="closed")
def _closed(tmp_path: Path) -> Iterator[Closed]:
    """The example configuration with the PIM and the DAM on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    db_url = f"sqlite:///{tmp_path / 'state.db'}"
    text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8081", url).replace("http://127.0.0.1:8082", url)
    text = text.replace('url = "sqlite:///damsync.db"', f'url = "{db_url}"')
    text = text.replace('log_format = "auto"', 'log_format = "json"')
    config = tmp_path / "damsync.toml"
    config.write_text(text, encoding="utf-8")
    store = Store.from_url(db_url)
    store.upgrade()
    store.dispose()
    saved = secret_values.known()
    logs.reset()
    try:
        yield Closed(config, url)
    finally:
        logs.reset()  # sync configures logging to the runner's stream, closed by now
        secret_values.forget_all()
        secret_values.remember(saved)


def invoke(*args: str):
    started = time.monotonic()
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result, time.monotonic() - started


def naming(lines: list[str], url: str) -> list[str]:
    return [line for line in lines if url in line and "refused" in line]


def test_validate_config_names_the_refused_pim_in_one_line_within_seconds(closed):
    """validate-config makes 2 attempts, not 6 × 6, and prints one line naming URL and cause."""
    with capture_logs() as captured:
        result, elapsed = invoke("validate-config", "--config", str(closed.config))
    retries = [entry for entry in captured if entry["event"] == "http.retry"]
    lines = result.output.splitlines()
    assert 0 != result.exit_code
    assert "Traceback" not in result.output
    assert 1 == len(naming(lines, f"{closed.url}/api/oauth/v1/token")), result.output
    assert ONE_SHOT_RETRY.attempts - 1 == len(retries), retries
    assert elapsed < SECONDS


def test_sync_once_names_the_refused_dam_in_one_line_within_seconds(closed):
    """sync --once fails its pass after the one-shot attempts; its summary names URL and cause."""
    result, elapsed = invoke("sync", "--once", "--config", str(closed.config))
    records = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    printed = [line for line in result.output.splitlines() if not line.startswith("{")]
    retries = [record for record in records if record.get("event") == "http.retry"]
    assert 2 == result.exit_code, result.output
    assert "Traceback" not in result.output
    assert 1 == len(naming(printed, f"{closed.url}/generic/assets")), result.output
    assert "?" not in naming(printed, closed.url)[0]
    assert ONE_SHOT_RETRY.attempts - 1 == len(retries), retries
    assert elapsed < SECONDS


async def test_only_one_shot_apps_cap_the_configured_retry_policy(closed):
    """The daemon's app keeps the configured 6 attempts; a one-shot app gets the capped policy."""
    settings = load_settings(closed.config, {})
    attempts = {}
    for one_shot in (False, True):
        services = Services.create(settings, registry=CollectorRegistry())
        app = SyncApp.build(settings, services, one_shot=one_shot)
        source = app.sources[0]
        assert isinstance(source, RestSource)
        attempts[one_shot] = (app.pim.upstream.retry.attempts, source.upstream.retry.attempts)
        await app.aclose()
        services.store.dispose()
    assert {False: (6, 6), True: (2, 2)} == attempts
