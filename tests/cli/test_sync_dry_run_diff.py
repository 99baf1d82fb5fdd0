"""``sync --once --dry-run --diff``: what a pass would change in the PIM, read from the PIM."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.store import Store


def pim_get(env: Any, path: str) -> Any:
    token = httpx.post(
        f"{env.pim}/api/oauth/v1/token",
        json={"grant_type": "password", "username": "demo", "password": "demo"},
        auth=("demo_client", "demo_secret"),
    ).json()["access_token"]
    return httpx.get(f"{env.pim}{path}", headers={"Authorization": f"Bearer {token}"}).json()


def writes(env: Any) -> int:
    stats = httpx.get(f"{env.pim}/_sim/stats").json()
    return sum(
        sum(counts.values())
        for key, counts in stats["requests"].items()
        if key.startswith(("PATCH", "DELETE", "POST /api/rest/v1/asset-media-files"))
    )


def json_lines(result: Any) -> list[str]:
    """The JSON lines of a command's output (log events among them)."""
    return [line for line in result.output.splitlines() if line.startswith("{")]


def sync(env: Any, *args: str) -> Any:
    return CliRunner().invoke(main, ["sync", "--once", "--config", str(env.config), *args])


def test_diff_lists_exactly_the_changed_and_erased_values_and_writes_nothing(env):
    """After a real pass, a changed description and a cleared tag are all the diff shows."""
    assert 0 == sync(env).exit_code
    with env.dam_client() as dam:
        items = dam.get("/_sim/assets").json()["items"]
        asset = next(
            a
            for a in items
            if not a["deleted"]
            and a["file"]["mime_type"].startswith("image/")
            and a["metadata"].get("tags")
            and a["metadata"].get("description")
        )
        description = dict(asset["metadata"]["description"], en_US="A brand new description")
        metadata = dict(asset["metadata"], description=description, tags=[])
        dam.post("/_sim/mutate", json={"id": asset["id"], "metadata": metadata})
    store = Store.from_url(env.db_url)
    code = store.asset_states("demo", [asset["id"]])[asset["id"]].code
    store.dispose()
    path = f"/api/rest/v1/asset-families/packshots/assets/{code}"
    before, written = pim_get(env, path), writes(env)

    result = sync(env, "--dry-run", "--diff", "--format", "json")

    assert 0 == result.exit_code, result.output
    lines = [line for line in map(json.loads, json_lines(result)) if "event" not in line]
    assert 1 == len(lines), result.output
    diff = lines[0]
    expected = (asset["id"], code, "packshots", "changed")
    assert expected == (diff["dam_id"], diff["code"], diff["family"], diff["status"])
    changes = {(c["attribute"], c["locale"], c["kind"]): c for c in diff["changes"]}
    assert {("description", "en_US", "changed"), ("tags", None, "erased")} == set(changes)
    old = next(v for v in before["values"]["description"] if v["locale"] == "en_US")["data"]
    changed = changes["description", "en_US", "changed"]
    assert (old, "A brand new description") == (changed["old"], changed["new"])
    tags = changes["tags", None, "erased"]
    assert (before["values"]["tags"][0]["data"], None) == (tags["old"], tags["new"])
    assert written == writes(env)
    assert before == pim_get(env, path)


def test_diff_table_fits_80_columns(env):
    """The default table shows the created assets of a first dry run within 80 columns."""
    result = sync(env, "--dry-run", "--diff")
    assert 0 == result.exit_code, result.output
    table = [line for line in result.output.splitlines()[:-1] if not line.startswith("{")]
    assert "created" in result.output
    assert [] == [line for line in table if len(line) > 80]


def test_diff_without_dry_run_is_a_usage_error(env):
    """--diff alone is refused with one usage line and exit code 2; nothing runs."""
    result = sync(env, "--diff")
    assert 2 == result.exit_code
    assert "--diff" in result.output and "--dry-run" in result.output
    assert 0 == writes(env)
