"""`damsync structure plan|apply|export` against served PIM simulators: CI exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daemon.cli.main import main
from daemon.sim.pim import create_pim_app, load_seed
from tests.cli.conftest import ROOT, Served
from tests.cli.test_startup_imports import HELP_FORBIDDEN, loaded_by

SEED = load_seed(ROOT / "config" / "sim" / "pim-seed.json")
EMPTY = {k: v for k, v in SEED.items() if k in ("users", "locales", "channels")}
EXAMPLE = ROOT / "config" / "examples" / "structure.toml"


@dataclass
class Pim:
    app: Any
    config: Path

    @property
    def families(self) -> dict[str, Any]:
        families: dict[str, Any] = self.app.state.pim.families
        return families


def config_for(url: str, path: Path) -> Path:
    text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    path.write_text(text.replace("http://127.0.0.1:8081", url), encoding="utf-8")
    return path


@pytest.fixture(name="pims")
def _pims(tmp_path: Path) -> Iterator[tuple[Pim, Pim]]:
    """A seeded PIM and an empty one (users and channels only), served on loopback."""
    seeded, empty = create_pim_app(SEED), create_pim_app(EMPTY)
    with Served(seeded) as one, Served(empty) as two:
        yield (
            Pim(seeded, config_for(one.url, tmp_path / "seeded.toml")),
            Pim(empty, config_for(two.url, tmp_path / "empty.toml")),
        )


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def plan(structure: Path, pim: Pim, *extra: str) -> Result:
    return run("structure", "plan", "--structure", structure, "--config", pim.config, *extra)


def apply(structure: Path, pim: Pim) -> Result:
    return run("structure", "apply", "--structure", structure, "--config", pim.config)


def test_export_apply_on_an_empty_pim_then_plan_shows_no_change(pims, tmp_path):
    """The done-when: export -> apply on an empty simulator -> plan exits 0, "No changes"."""
    seeded, empty = pims
    out = tmp_path / "structure.toml"
    exported = run("structure", "export", "--config", seeded.config, "--out", out)
    assert 0 == exported.exit_code, exported.output
    pending = plan(out, empty)
    assert 2 == pending.exit_code, pending.output
    assert "+ create family packshots" in pending.stdout
    applied = apply(out, empty)
    assert 0 == applied.exit_code, applied.output
    assert "created attribute packshots.media (media_file)" in applied.stdout
    done = plan(out, empty)
    assert (0, "No changes: the PIM matches the structure file.\n") == (done.exit_code, done.stdout)
    assert sorted(seeded.families) == sorted(empty.families)


def test_export_to_stdout_is_the_file_alone(pims):
    """Log lines go to stderr: stdout is TOML that `plan` reads back with no change."""
    seeded, _ = pims
    result = run("structure", "export", "--config", seeded.config, "--family", "notices")
    assert 0 == result.exit_code, result.output
    assert result.stdout.startswith("# damsync structure file: 1 asset family(ies)")
    assert 'code = "notices"' in result.stdout
    assert 'code = "packshots"' not in result.stdout


def test_a_second_apply_does_nothing(pims):
    """Idempotent: the second apply applies no step."""
    _, empty = pims
    assert 0 == apply(EXAMPLE, empty).exit_code
    again = apply(EXAMPLE, empty)
    assert (0, "Nothing to apply: the PIM matches the structure file.\n") == (
        again.exit_code,
        again.stdout,
    )


def test_a_pending_change_exits_2_and_json_names_it(pims, tmp_path):
    """A label changed in the file: exit 2, one update step in the JSON plan."""
    _, empty = pims
    assert 0 == apply(EXAMPLE, empty).exit_code
    changed = tmp_path / "s.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    changed.write_text(text.replace('"Légende"', '"Sous-titre"'), encoding="utf-8")
    result = plan(changed, empty, "--format", "json")
    assert 2 == result.exit_code, result.output
    body = json.loads(result.stdout)
    assert [("update", "attribute model_pictures.caption", ["labels.fr_FR"])] == [
        (s["action"], s["target"], s["changes"]) for s in body["steps"]
    ]
    assert {"type": "text", "labels": {"fr_FR": "Sous-titre"}} == body["steps"][0]["body"]
    assert 2 == body["exit_code"]


def test_a_forbidden_change_exits_1_naming_the_attribute_and_the_manual_step(pims, tmp_path):
    """The done-when: a type change in the file is an error with the manual step, exit 1."""
    _, empty = pims
    assert 0 == apply(EXAMPLE, empty).exit_code
    changed = tmp_path / "s.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    changed.write_text(
        text.replace('code = "approved"\ntype = "boolean"', 'code = "approved"\ntype = "date"'),
        encoding="utf-8",
    )
    result = plan(changed, empty)
    assert 1 == result.exit_code, result.output
    assert (
        'error: attribute model_pictures.approved: type cannot change from "boolean" to "date" '
        "through the API\n"
        "  manual step: in the PIM, delete attribute 'approved' of family 'model_pictures' "
        "(every asset loses its approved values), then run `damsync structure apply` to create "
        "it as the file says; or give the new attribute another code in the file\n"
    ) in result.stdout
    refused = apply(changed, empty)
    assert 1 == refused.exit_code
    assert "nothing applied: the plan holds changes the API cannot make" in refused.stderr
    assert "boolean" == empty.families["model_pictures"].attributes["approved"]["type"]


def test_attributes_only_in_the_pim_are_kept_and_reported(pims, tmp_path):
    """Nothing is deleted: a family's attribute missing from the file is listed as kept."""
    seeded, _ = pims
    out = tmp_path / "structure.toml"
    assert 0 == run("structure", "export", "--config", seeded.config, "--out", out).exit_code
    text = out.read_text(encoding="utf-8")
    start = text.index('[[families.attributes]]\ncode = "product_ref"')
    out.write_text(text[:start] + text[start:].split("\n\n", 1)[1], encoding="utf-8")
    result = plan(out, seeded)
    assert 0 == result.exit_code, result.output
    assert "= keep attribute notices.product_ref (in the PIM, not in the file" in result.stdout


def test_an_invalid_structure_file_exits_1_one_line_per_problem(pims, tmp_path):
    """Not 2: a CI job must not read a broken file as "changes pending"."""
    _, empty = pims
    bad = tmp_path / "s.toml"
    bad.write_text(
        '[[families]]\ncode = "x"\nattributes = [{ code = "m", type = "media_file" }, '
        '{ code = "t", type = "text", prefix = "p" }]\n',
        encoding="utf-8",
    )
    result = plan(bad, empty)
    assert 1 == result.exit_code
    assert [
        f"damsync: invalid structure file {bad}:",
        "families[0].attributes[0].media_type: required for a media_file attribute",
        "families[0].attributes[1].prefix: not a property of a text attribute (it takes: "
        "max_characters, is_textarea, is_rich_text_editor, validation_rule, validation_regexp)",
    ] == result.stderr.splitlines()


def test_usage_errors_and_an_unreachable_pim_exit_1(tmp_path):
    """A missing option or a PIM that does not answer: exit 1, never 2."""
    typo = run("structure", "plna")
    assert (1, "Error: No such command 'plna'. Did you mean 'plan'?") == (
        typo.exit_code,
        typo.stderr.splitlines()[-1],
    )
    missing = run("structure", "plan", "--config", tmp_path / "nope.toml")
    assert 1 == missing.exit_code
    assert "Missing option '--structure'" in missing.stderr
    config = config_for("http://127.0.0.1:9", tmp_path / "dead.toml")
    dead = run("structure", "plan", "--structure", EXAMPLE, "--config", config)
    assert 1 == dead.exit_code
    assert dead.stderr.splitlines()[-1].startswith("damsync: pim: PimUnavailable: ")


def test_an_invalid_configuration_exits_1(tmp_path):
    """The damsync.toml refused: exit 1 (load_settings' usual 2 would read as pending)."""
    config = tmp_path / "c.toml"
    config.write_text("[pim]\nbase_url = 3\n", encoding="utf-8")
    result = run("structure", "plan", "--structure", EXAMPLE, "--config", config)
    assert 1 == result.exit_code
    assert result.stderr.startswith(f"damsync: invalid configuration {config}:")


def test_export_of_an_unknown_family_exits_1(pims):
    """--family naming a family the PIM lacks is one line and exit 1."""
    seeded, _ = pims
    result = run("structure", "export", "--config", seeded.config, "--family", "nope")
    assert (1, "damsync: the PIM has no asset family 'nope'") == (
        result.exit_code,
        result.stderr.splitlines()[-1],
    )


@pytest.mark.parametrize(
    "command",
    [["structure"], ["structure", "plan"], ["structure", "apply"], ["structure", "export"]],
)
def test_help_imports_nothing_heavy(command):
    """`damsync structure ... --help` loads no settings, engine, PIM client nor httpx."""
    assert [] == loaded_by([*command, "--help"], HELP_FORBIDDEN)
