"""`damsync reconcile` and `sync --once --full` against simulators served on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.mapping import sanitise_code

ASSETS = "/api/rest/v1/asset-families/packshots/assets"
BULK = "PATCH /api/rest/v1/asset-families/{family}/assets"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def reconcile(env, *args: str):
    return invoke("reconcile", "--config", str(env.config), *args)


def pim(env) -> httpx.Client:
    answer = httpx.post(
        f"{env.pim}/api/oauth/v1/token",
        json={"grant_type": "password", "username": "demo", "password": "demo"},
        auth=("demo_client", "demo_secret"),
    )
    token = answer.json()["access_token"]
    return httpx.Client(base_url=env.pim, headers={"Authorization": f"Bearer {token}"})


def make_drift(env) -> dict[str, str]:
    """One missing, one stale and one deleted asset; returns their DAM ids."""
    with env.dam_client() as dam:
        items = dam.get("/_sim/assets").json()["items"]
        images = [a["id"] for a in items if a["type"] == "image" and not a["deleted"]]
        missing, stale, deleted = images[:3]
        gone = {"id": deleted, "deleted": True, "updated_at": "2020-01-01T00:00:00Z"}
        assert dam.post("/_sim/mutate", json=gone).status_code < 300
    with pim(env) as client:
        assert client.delete(f"{ASSETS}/{sanitise_code(missing)}").status_code < 300
        edit = {"title": [{"locale": "en_US", "channel": None, "data": "Edited in the PIM"}]}
        answer = client.patch(f"{ASSETS}/{sanitise_code(stale)}", json={"values": edit})
        assert answer.status_code < 300
    return {"missing": missing, "stale": stale, "deleted": deleted}


def test_a_synced_pim_is_clean_exit_0(env):
    """Right after a pass: exit 0, one line saying so, a table of zeros within 80 columns."""
    assert 0 == invoke("sync", "--once", "--config", str(env.config)).exit_code
    result = reconcile(env)
    assert 0 == result.exit_code, result.output
    assert "demo: clean" in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())


def test_drift_exits_2_with_counts_and_a_sample_of_ids(env):
    """Drift: exit 2, per-family counts and the drifted ids, every line within 80 columns."""
    invoke("sync", "--once", "--config", str(env.config))
    ids = make_drift(env)
    result = reconcile(env)
    assert 2 == result.exit_code, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "demo: drift in 3 assets" in result.stdout
    [row] = [line.split() for line in lines if line.startswith("packshots  ")]
    assert ["packshots", "1", "1", "0", "1"] == row
    for kind, dam_id in ids.items():
        assert f"packshots {kind}: {dam_id}" in result.stdout


def test_json_lists_every_drifted_asset_and_the_counts(env):
    """--format json: one JSON object per line, each drifted asset and a summary per family."""
    invoke("sync", "--once", "--config", str(env.config))
    ids = make_drift(env)
    result = reconcile(env, "--format", "json")
    assert 2 == result.exit_code, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    drift = {r["kind"]: r["dam_id"] for r in records if r["type"] == "drift"}
    assert ids == drift
    [summary] = [r for r in records if r["type"] == "summary" and r["family"] == "packshots"]
    assert (1, 1, 0, 1) == tuple(summary[k] for k in ("missing", "stale", "orphaned", "deleted"))


def test_fix_repairs_and_a_second_reconcile_is_clean(env):
    """--fix re-sends and deletes (exit 2: drift was found); the next reconcile exits 0."""
    invoke("sync", "--once", "--config", str(env.config))
    make_drift(env)
    fixed = reconcile(env, "--fix")
    assert 2 == fixed.exit_code, fixed.output
    assert "demo: fixed - resent 2, deleted 1, failed 0" in fixed.stdout
    again = reconcile(env)
    assert 0 == again.exit_code, again.output


def test_family_filter_and_errors_exit_1_in_one_line(env, tmp_path):
    """--family narrows the report; an unknown source or family, or a dead PIM, is exit 1."""
    invoke("sync", "--once", "--config", str(env.config))
    make_drift(env)
    assert 0 == reconcile(env, "--family", "notices").exit_code
    for args in (("--source", "nope"), ("--family", "nope"), ("--format", "yaml")):
        result = reconcile(env, *args)
        assert 1 == result.exit_code, (args, result.output)
        assert "Traceback" not in result.output
    dead = tmp_path / "dead.toml"
    dead.write_text(env.config.read_text().replace(env.pim, "http://127.0.0.1:1"))
    result = invoke("reconcile", "--config", str(dead))
    assert 1 == result.exit_code, result.output
    assert 1 == len([line for line in result.stderr.splitlines() if line.startswith("Error")])
    assert "Traceback" not in result.output


def test_sync_full_resends_every_asset(env):
    """`sync --once --full` writes every asset again; a plain pass after it writes nothing."""
    first = invoke("sync", "--once", "--config", str(env.config))
    assert 0 == first.exit_code, first.output
    httpx.post(f"{env.pim}/_sim/reset-stats")
    full = invoke("sync", "--once", "--full", "--config", str(env.config))
    assert 0 == full.exit_code, full.output
    written = _count(first.stdout, "written")
    assert written > 0 and f"written {written}," in full.stdout
    stats = httpx.get(f"{env.pim}/_sim/stats").json()
    assert sum(stats["requests"][BULK].values()) >= 2
    again = invoke("sync", "--once", "--config", str(env.config))
    assert "written 0," in again.stdout


def _count(output: str, word: str) -> int:
    text = output.split(f"{word} ", 1)[1]
    return int(text.split(",", 1)[0])


def test_config_error_is_exit_1(tmp_path: Path):
    """A configuration that does not load is exit 1, not 2 (2 means drift to a cron job)."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[pim]\nbase_url = 3\n")
    result = invoke("reconcile", "--config", str(bad))
    assert 1 == result.exit_code, result.output


def test_fix_past_the_brake_says_so_and_deletes_nothing(env, tmp_path):
    """With a tight brake --fix re-sends but holds the deletion, says so, and drift remains."""
    tight = tmp_path / "tight.toml"
    policy = (
        'delete_policy = "delete"          # a DAM deletion deletes the PIM asset; or "ignore"\n'
    )
    text = env.config.read_text()
    assert policy in text
    text = text.replace(policy, 'delete_policy = "delete"\nmax_delete_share = 0.001\n')
    tight.write_text(text)
    invoke("sync", "--once", "--config", str(tight))
    ids = make_drift(env)
    fixed = invoke("reconcile", "--fix", "--config", str(tight))
    assert 2 == fixed.exit_code, fixed.output
    assert "demo: fixed - resent 2, deleted 0, failed 0" in fixed.stdout
    assert "demo: 1 deletions held by the brake" in fixed.stdout
    assert all(len(line) <= 80 for line in fixed.stdout.splitlines())
    again = invoke("reconcile", "--config", str(tight), "--format", "json")
    left = [json.loads(line) for line in again.stdout.splitlines()]
    assert [("orphaned", ids["deleted"])] == [
        (r["kind"], r["dam_id"]) for r in left if r["type"] == "drift"
    ]
