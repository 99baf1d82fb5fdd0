"""`failures show`: the failure, its attempts in order, and when the asset was last written."""

from __future__ import annotations

import json

from click.testing import CliRunner

from daemon.cli.main import main
from daemon.store import Store


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _mutate(env, dam_id: str, width: str) -> None:
    with env.dam_client() as dam:
        item = next(i for i in dam.get("/_sim/assets").json()["items"] if i["id"] == dam_id)
        metadata = dict(item["metadata"], width=width)
        dam.post("/_sim/mutate", json={"id": dam_id, "metadata": metadata})


def test_show_prints_three_attempts_in_order_then_the_trail_goes_with_the_failure(env):
    """Three mapping failures show as three attempts; a write removes failure and trail."""
    config = ("--config", str(env.config))
    assert 0 == invoke("sync", "--once", *config).exit_code
    with env.dam_client() as dam:
        dam_id = dam.get("/_sim/assets").json()["items"][0]["id"]
    for n in range(1, 4):
        _mutate(env, dam_id, f"not a number {n}")
        assert 1 == invoke("sync", "--once", *config).exit_code
    listed = json.loads(invoke("failures", "list", *config, "--format", "json").output)
    failure_id = next(row["id"] for row in listed if row["dam_id"] == dam_id)

    shown = json.loads(
        invoke("failures", "show", str(failure_id), *config, "--format", "json").output
    )
    trail = shown["trail"]
    assert [1, 2, 3] == [a["attempt"] for a in trail]
    assert all(f"not a number {n}" in a["reason"] for n, a in enumerate(trail, 1))
    assert all(a["failed_at"].endswith("Z") for a in trail)
    assert shown["last_written_at"].endswith("Z")
    assert shown["last_written_dam_version"].endswith("Z")

    table = invoke("failures", "show", str(failure_id), *config)
    assert 0 == table.exit_code, table.output
    lines = table.output.splitlines()
    attempt_lines = [line for line in lines if line.startswith("  #")]
    assert 3 == len(attempt_lines)
    assert [a["reason"] for a in trail] == [line.split(": ", 1)[1] for line in attempt_lines]
    expected_last = (
        f"last written: {shown['last_written_at']} "
        f"(DAM version {shown['last_written_dam_version']})"
    )
    assert expected_last == lines[-1]

    _mutate(env, dam_id, "640")
    assert 0 == invoke("sync", "--once", *config).exit_code
    gone = CliRunner().invoke(main, ["failures", "show", str(failure_id), *config])
    assert f"no failure {failure_id}" in gone.output
    store = Store.from_url(env.db_url)
    try:
        assert [] == store.failure_trail("demo", dam_id)
    finally:
        store.dispose()
