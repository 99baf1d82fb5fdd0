"""``damsync deletions list|approve|reject`` and the mark check of ``validate-config``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from daemon.cli.main import main

POLICY = 'delete_policy = "delete"'


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def held_config(env, tmp_path, extra: str = "max_delete_count = 1"):
    """The served example with ``extra`` added to ``[sources.sync]``."""
    path = tmp_path / "held.toml"
    text = env.config.read_text(encoding="utf-8")
    if extra.startswith("["):  # a table: after the [sources.sync] keys
        text = text.replace("[sources.rest]  ", f"{extra}\n\n[sources.rest]  ", 1)
    else:
        text = text.replace(POLICY, f"{POLICY}\n{extra}", 1)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_held_deletions_are_listed_approved_and_rejected(env, tmp_path):
    """A burst of tombstones is held; approve deletes one, reject keeps the rest; exit codes."""
    config = held_config(env, tmp_path)
    assert 0 == invoke("sync", "--once", "--config", config).exit_code
    with env.dam_client() as dam:
        items = dam.get("/_sim/assets").json()["items"]
        victims = [a for a in items if a["type"] == "image" and not a["deleted"]][:3]
        for victim in victims:
            assert dam.post("/_sim/mutate", json={"id": victim["id"], "deleted": True}).is_success
    invoke("sync", "--once", "--config", config)
    listed = invoke("deletions", "list", "--config", config, "--format", "json")
    assert 0 == listed.exit_code, listed.output
    held = json.loads(listed.output)
    assert sorted(v["id"] for v in victims) == sorted(h["dam_id"] for h in held)
    approved = invoke(
        "deletions", "approve", "--config", config, "--source", "demo", str(held[0]["id"])
    )
    last = approved.output.splitlines()[-1]  # after the log lines of the PIM login
    assert (0, "1 held deletion(s) approved") == (approved.exit_code, last)
    rejected = invoke("deletions", "reject", "--config", config, "--source", "demo", "--all")
    assert (0, "2 held deletion(s) rejected\n") == (rejected.exit_code, rejected.output)
    assert "no held deletions\n" == invoke("deletions", "list", "--config", config).output
    again = invoke("deletions", "reject", "--config", config, "--source", "demo", "999")
    assert 1 == again.exit_code


def test_validate_config_names_a_bad_mark(env, tmp_path):
    """A mark attribute a family lacks, or an unknown option, is named with its config path."""
    config = held_config(env, tmp_path, '[sources.sync.mark]\ncolour = "nope"\nnosuch = "x"')
    result = invoke("validate-config", "--config", config)
    assert 1 == result.exit_code
    assert "sources[0].sync.mark.colour: 'nope' is not an option of packshots.colour" in (
        result.output
    )
    assert "sources[0].sync.mark.nosuch: family 'packshots' has no attribute 'nosuch'" in (
        result.output
    )
