"""The operators' commands against simulators served on loopback."""

from __future__ import annotations

from click.testing import CliRunner

from daemon.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sync_once_then_status_checkpoint_and_failures(env):
    """One pass syncs everything; status, checkpoint and failures report it."""
    result = invoke("sync", "--once", "--config", str(env.config))
    assert 0 == result.exit_code, result.output
    assert "demo: succeeded" in result.output
    assert "failed 0" in result.output
    status = invoke("status", "--config", str(env.config))
    assert 0 == status.exit_code
    assert "demo" in status.output
    shown = invoke("checkpoint", "show", "--config", str(env.config))
    assert "demo: cursor 20" in shown.output
    listed = invoke("failures", "list", "--config", str(env.config))
    assert 0 == listed.exit_code


def test_failing_asset_gives_exit_1_and_can_be_inspected(env):
    """An asset the PIM refuses makes `sync --once` exit 1 and shows in `failures`."""
    with env.dam_client() as dam:
        item = dam.get("/_sim/assets").json()["items"][0]
        metadata = dict(item["metadata"], width="not a number")
        dam.post("/_sim/mutate", json={"id": item["id"], "metadata": metadata})
    result = invoke("sync", "--once", "--config", str(env.config))
    assert 1 == result.exit_code, result.output
    listed = invoke("failures", "list", "--config", str(env.config))
    assert item["id"] in listed.output
    forgotten = invoke("failures", "forget", "all", "--config", str(env.config))
    assert "1 failure(s) forgotten" in forgotten.output


def test_rewind_makes_the_next_pass_read_again_without_writing(env):
    """After a rewind the next pass re-reads everything and writes nothing unchanged."""
    invoke("sync", "--once", "--config", str(env.config))
    rewound = invoke(
        "checkpoint", "rewind", "--source", "demo", "--since", "beginning", "--config",
        str(env.config),
    )  # fmt: skip
    assert "rewound to the beginning" in rewound.output
    again = invoke("sync", "--once", "--config", str(env.config))
    assert "written 0" in again.output
    assert "unchanged 0" not in again.output


def test_validate_config_accepts_the_example_and_names_bad_rules(env, tmp_path):
    """validate-config passes the example; an unknown attribute is reported with its path."""
    ok = invoke("validate-config", "--config", str(env.config))
    assert 0 == ok.exit_code, ok.output
    bad = tmp_path / "bad.toml"
    text = env.config.read_text(encoding="utf-8")
    bad.write_text(text.replace('product_ref = "metadata.sku"', 'nope = "metadata.sku"'))
    result = invoke("validate-config", "--config", str(bad))
    assert 1 == result.exit_code
    assert "sources[0].mapping.families[0].attributes.nope" in result.output


def test_invalid_config_exits_2_naming_the_key(tmp_path):
    """A config with a bad value exits 2 and names the key."""
    config = tmp_path / "c.toml"
    config.write_text('[pim]\nbase_url = "http://x"\ntoken = "t"\n[server]\nport = -1\n')
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert 2 == result.exit_code
    assert "server.port" in result.output
