"""``damsync migrate-pam --dry-run``: the plan, the counts and the report, from CSV and API."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from daemon.cli.migrate_pam import migrate_pam
from daemon.settings.structure_file import load_structure
from tests.pam.helpers import BASE, CREDENTIALS, FIXTURES, sim_app

EXPORT = FIXTURES / "export_40"
FILES = FIXTURES / "files"


def _run(*args: object, env: dict[str, str] | None = None, obj: object = None) -> Result:
    return CliRunner().invoke(
        migrate_pam, [str(a) for a in args], env=env, obj=obj, catch_exceptions=False
    )


def _squeezed(output: str) -> str:
    """The output with runs of spaces made one, so table widths do not matter."""
    return "\n".join(" ".join(line.split()) for line in output.splitlines())


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_csv_dry_run_prints_the_plan_and_writes_every_line(tmp_path):
    """Families, attributes, decisions, counts; the CSV has every skipped asset and file."""
    report = tmp_path / "report.csv"
    result = _run("--from-csv", EXPORT, "--files", FILES, "--dry-run", "--report", report)
    assert 0 == result.exit_code, result.output
    out = _squeezed(result.output)
    assert "pam_assets create 8 both reference" in out
    assert "variation_localizable_scopable media_file yes yes -" in out
    assert "tags: text: 1 code(s) break ^[a-zA-Z0-9_]+$ (e.g. summer-2019)" in out
    assert "categories: options: 4 distinct valid code(s)" in out
    assert "bin/console pimee:assets:migrate:migrate-pam-attributes pam_assets" in out
    assert "8 asset(s) to migrate, 4 skipped (3 unreadable input row(s))" in out
    rows = _report(report)
    skipped = {(r["kind"], r["asset"]) for r in rows if r["kind"] != "note"}
    assert {
        ("skipped_asset", "old-asset"),
        ("skipped_asset", "broken_row"),
        ("skipped_asset", "bridge"),
        ("skipped_asset", "deleted_asset"),
        ("skipped_file", "gone_binary"),
        ("skipped_file", "no_reference"),
        ("skipped_file", "hidden_reference"),
    } == skipped


def test_api_dry_run_reads_the_simulator_and_never_prints_secrets(tmp_path):
    """--from-api with credentials from the environment: the same plan; no secret in the output."""
    app = sim_app(assets=60)
    env = {**CREDENTIALS, "DAMSYNC_PAM_SECRET": "pam_secret"}
    result = _run(
        "--from-api",
        BASE,
        "--dry-run",
        "--report",
        tmp_path / "r.csv",
        env=env,
        obj={"pam_transport": httpx.ASGITransport(app=app)},
    )
    assert 0 == result.exit_code, result.output
    assert "57 asset(s) to migrate, 3 skipped" in result.output
    assert "categories" in result.output
    assert "pam_secret" not in result.output
    skipped = [r["asset"] for r in _report(tmp_path / "r.csv") if r["kind"] == "skipped_asset"]
    assert ["pam_000004-old", "pam_000027-old", "pam_000050-old"] == skipped


def test_api_without_credentials_is_one_line(tmp_path):
    """Missing credentials: exit 1 naming the options, before any request."""
    result = _run("--from-api", BASE, "--dry-run", "--report", tmp_path / "r.csv")
    assert 1 == result.exit_code
    # (Not "--secret" itself: an earlier test in the process may have registered "secret" as
    # a secret value, which every message then masks.)
    assert "--from-api: needs --client-id, " in result.output
    assert ", --username, --password" in result.output


def test_family_by_family_with_a_collection_map(tmp_path):
    """A family column: one family per value; the relink commands per family."""
    links = tmp_path / "links.csv"
    links.write_text(
        "attribute;family\npack_images;packshots\nuser_manuals;notices\n", encoding="utf-8"
    )
    result = _run(
        "--from-csv",
        EXPORT,
        "--assets-file",
        "assets_with_family.csv",
        "--files",
        FILES,
        "--strategy",
        "family-by-family",
        "--collection-map",
        links,
        "--dry-run",
        "--report",
        tmp_path / "r.csv",
    )
    assert 0 == result.exit_code, result.output
    assert "notices create 1 non-localizable reference" in _squeezed(result.output)
    assert "packshots create 6 both reference" in _squeezed(result.output)
    assert "migrate-pam-attributes notices user_manuals" in result.output
    reasons = {
        r["asset"]: r["reason"] for r in _report(tmp_path / "r.csv") if r["kind"] == "skipped_asset"
    }
    assert reasons["long_tags"].startswith("no family for this asset")


def test_family_map_file_gives_the_family(tmp_path):
    """A code;family file places assets that have no family column."""
    mapping = tmp_path / "families.csv"
    mapping.write_text(
        "code;family\nbridge;packshots\ntshirt;packshots\nuser_manual;notices\n", encoding="utf-8"
    )
    result = _run(
        "--from-csv",
        EXPORT,
        "--files",
        FILES,
        "--strategy",
        "family-by-family",
        "--family-map",
        mapping,
        "--dry-run",
        "--report",
        tmp_path / "r.csv",
    )
    assert 0 == result.exit_code, result.output
    assert "3 asset(s) to migrate" in result.output
    assert "no collection-attribute map" in result.output


def test_manual_onto_a_structure_file(tmp_path):
    """Families modelled in a structure file; roles mapped; missing options planned."""
    structure = tmp_path / "structure.toml"
    structure.write_text(
        """
[[families]]
code = "pam_assets"
attribute_as_main_media = "main_image"
attributes = [
  {code = "main_image", type = "media_file", media_type = "image"},
  {code = "keywords", type = "multiple_options", options = [{code = "cities"}]},
]
""",
        encoding="utf-8",
    )
    mapping = tmp_path / "map.json"
    mapping.write_text(
        json.dumps({"reference": "main_image", "tags": "keywords"}), encoding="utf-8"
    )
    result = _run(
        "--from-csv",
        EXPORT,
        "--files",
        FILES,
        "--strategy",
        "manual",
        "--structure",
        structure,
        "--attribute-map",
        mapping,
        "--dry-run",
        "--report",
        tmp_path / "r.csv",
    )
    assert 0 == result.exit_code, result.output
    assert "pam_assets modelled" in _squeezed(result.output)
    assert "tags: options of keywords: 1 existing" in result.output
    assert (
        "description: family pam_assets has no attribute description: not migrated" in result.output
    )


def test_a_plan_with_problems_exits_1(tmp_path):
    """A modelled attribute of the wrong kind: the problem line, exit 1, nothing mapped."""
    structure = tmp_path / "structure.toml"
    structure.write_text(
        '[[families]]\ncode = "pam_assets"\nattributes = [{code = "tags", type = "number"}]\n',
        encoding="utf-8",
    )
    result = _run(
        "--from-csv",
        EXPORT,
        "--strategy",
        "manual",
        "--structure",
        structure,
        "--dry-run",
        "--report",
        tmp_path / "r.csv",
    )
    assert 1 == result.exit_code
    assert "the plan cannot be applied" in result.output
    assert "tags goes to attribute tags, which must be multiple_options or text" in result.output
    assert not (tmp_path / "r.csv").exists()


def test_write_structure_gives_a_file_structure_apply_takes(tmp_path):
    """--write-structure: a structure file that load_structure accepts, options included."""
    path = tmp_path / "families.toml"
    result = _run(
        "--from-csv",
        EXPORT,
        "--files",
        FILES,
        "--dry-run",
        "--write-structure",
        path,
        "--report",
        tmp_path / "r.csv",
    )
    assert 0 == result.exit_code, result.output
    family = load_structure(path).families[0]
    assert ("pam_assets", "reference") == (family.code, family.attribute_as_main_media)
    categories = next(a for a in family.attributes if a.code == "categories")
    assert ["back_views", "front_views", "manuals", "banners"] == sorted(
        (o.code for o in categories.options or []),
        key=["back_views", "front_views", "manuals", "banners"].index,
    )


def test_usage_errors_are_one_line(tmp_path):
    """Two sources, none, or a write without a target PIM: exit 1 with the reason."""
    both = _run("--from-api", BASE, "--from-csv", EXPORT, "--dry-run")
    neither = _run("--dry-run")
    writing = _run("--from-csv", EXPORT, "--files", FILES)
    no_files = _run("--from-csv", EXPORT)
    assert (1, 1, 1, 1) == (
        both.exit_code,
        neither.exit_code,
        writing.exit_code,
        no_files.exit_code,
    )
    assert "give one source" in both.output and "give one source" in neither.output
    assert "writing needs the target PIM: --config FILE" in writing.output
    assert "--from-csv needs --files DIR" in no_files.output


PIM_SEED = {
    "users": [{"client_id": "c", "secret": "s", "username": "u", "password": "p"}],
    "locales": ["en_US", "fr_FR"],
    "channels": [
        {"code": "ecommerce", "locales": ["en_US", "fr_FR"]},
        {"code": "mobile", "locales": ["en_US"]},
        {"code": "print", "locales": ["en_US", "fr_FR"]},
    ],
    "asset_families": [],
}


def test_csv_migration_writes_into_the_pim_and_a_rerun_changes_nothing(tmp_path):
    """From the fixture export: structure, assets and binaries land; the re-run uploads nothing."""
    from daemon.sim.pim import create_pim_app

    config = tmp_path / "damsync.toml"
    config.write_text(
        '[pim]\nbase_url = "http://pim.test"\nclient_id = "c"\nsecret = "s"\n'
        'username = "u"\npassword = "p"\n',
        encoding="utf-8",
    )
    pim_app = create_pim_app(PIM_SEED)
    obj = {"pim_transport": httpx.ASGITransport(app=pim_app)}
    args = (
        "--from-csv",
        EXPORT,
        "--files",
        FILES,
        "--config",
        config,
        "--progress",
        tmp_path / "progress.sqlite",
        "--report",
        tmp_path / "r.csv",
    )
    first = _run(*args, obj=obj)
    assert 0 == first.exit_code, first.output
    assert "written: 8 created, 0 updated" in first.output
    state = pim_app.state.pim
    family = state.families["pam_assets"]
    assert {"bridge", "tshirt", "user_manual", "logo_copy"} <= set(family.assets)
    bridge, copy = family.assets["bridge"].values, family.assets["logo_copy"].values
    assert (
        bridge["reference"][0]["data"] == copy["reference"][0]["data"]
    )  # same content, one upload
    assert ["back_views", "front_views"] == sorted(bridge["categories"][0]["data"])
    assert "cities,water,summer-2019" != bridge["tags"][0]["data"]
    uploads = state.uploads
    assert uploads == len(state.media)
    again = _run(*args, obj=obj)
    assert 0 == again.exit_code, again.output
    assert "0 created, 0 updated, 8 unchanged since the last run" in again.output
    assert uploads == state.uploads


def test_a_bad_mapping_file_names_its_line(tmp_path):
    """A family map line without a family: the option and the line."""
    mapping = tmp_path / "families.csv"
    mapping.write_text("code;family\nbridge\n", encoding="utf-8")
    result = _run(
        "--from-csv",
        EXPORT,
        "--strategy",
        "family-by-family",
        "--family-map",
        mapping,
        "--dry-run",
        "--report",
        tmp_path / "r.csv",
    )
    assert 1 == result.exit_code
    assert "--family-map: line 2: expected code and family" in result.output


def test_in_place_keeps_the_file_keys_and_uploads_nothing(tmp_path):
    """--in-place (same upgraded database): media values are the PAM keys; no binary moves."""
    from daemon.sim.pim import create_pim_app
    from daemon.sim.pim.state import MediaFile

    config = tmp_path / "damsync.toml"
    config.write_text(
        '[pim]\nbase_url = "http://pim.test"\nclient_id = "c"\nsecret = "s"\n'
        'username = "u"\npassword = "p"\n',
        encoding="utf-8",
    )
    pim_app = create_pim_app(PIM_SEED)
    # The same database: the PAM's file_info rows are the Asset Manager's media files.
    for path in FILES.rglob("*.*"):
        key = path.relative_to(FILES).as_posix()
        pim_app.state.pim.media[key] = MediaFile(key, path.name, "image/jpeg", path.read_bytes())
    result = _run(
        "--from-csv",
        EXPORT,
        "--in-place",
        "--config",
        config,
        "--progress",
        tmp_path / "p.sqlite",
        "--report",
        tmp_path / "r.csv",
        obj={"pim_transport": httpx.ASGITransport(app=pim_app)},
    )
    assert 0 == result.exit_code, result.output
    state = pim_app.state.pim
    bridge = state.families["pam_assets"].assets["bridge"].values["reference"][0]["data"]
    assert bridge.endswith("_bridge.jpg") and bridge.startswith("f/1/0/3/")
    assert 0 == state.uploads
