"""Structure as code: the pure plan, and plan / apply / export against the PIM simulator."""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.engine.structure_apply import (
    StructureStepError,
    apply_steps,
    export_live,
    plan_against,
)
from daemon.engine.structure_plan import plan_structure, same_property
from daemon.pim import PasswordAuth, PimClient
from daemon.pim.structure_records import StructureAttribute, StructureFamily, StructureOption
from daemon.service.structure_options import desired_families, structure_file_of, toml_text
from daemon.settings.structure_file import load_structure, parse_structure
from daemon.sim.pim import create_pim_app

ROOT = Path(__file__).resolve().parents[2]
SEED: dict[str, Any] = json.loads((ROOT / "config" / "sim" / "pim-seed.json").read_text())
EMPTY = {k: v for k, v in SEED.items() if k in ("users", "locales", "channels")}
EXAMPLE = ROOT / "config" / "examples" / "structure.toml"


@asynccontextmanager
async def pim_of(app: Any) -> AsyncIterator[PimClient]:
    auth = PasswordAuth(
        client_id="demo_client", secret="demo_secret", username="demo", password="demo"
    )
    async with PimClient("http://pim.sim", auth=auth, transport=httpx.ASGITransport(app)) as pim:
        yield pim


def text(code: str, **properties: Any) -> StructureAttribute:
    return StructureAttribute(code, "text", properties=properties)


def family(*attributes: StructureAttribute, **kw: Any) -> StructureFamily:
    return StructureFamily("shots", attributes=attributes, **kw)


# -- the pure plan --------------------------------------------------------------------------


def test_a_new_family_is_planned_in_the_documented_order():
    """Family, then attributes, then options, then the keys that name attributes."""
    desired = family(
        StructureAttribute("media", "media_file", properties={"media_type": "image"}),
        StructureAttribute("colour", "single_option", options=(StructureOption("red"),)),
        attribute_as_main_media="media",
        transformations=(),
    )
    plan = plan_structure([desired], {"shots": None})
    kinds = [(s.kind, s.action, s.attribute, s.option) for s in plan.steps]
    assert [
        ("family", "create", None, None),
        ("attribute", "create", "media", None),
        ("attribute", "create", "colour", None),
        ("option", "create", "colour", "red"),
        ("family_links", "update", None, None),
    ] == kinds
    assert {"attribute_as_main_media": "media", "transformations": []} == plan.steps[-1].body
    assert 2 == plan.exit_code


def test_a_family_matching_the_file_plans_nothing():
    """Equal structures (numbers as the PIM spells them, unset defaults) give exit 0."""
    live = family(
        text("title", max_characters="50", is_textarea=False, is_read_only=False),
        StructureAttribute(
            "media", "media_file", properties={"allowed_extensions": ["png", "jpg"]}
        ),
        naming_convention={"source": {"property": "code", "locale": None}, "pattern": "/x/"},
    )
    desired = family(
        text("title", max_characters=50),
        StructureAttribute(
            "media", "media_file", properties={"allowed_extensions": ["jpg", "png"]}
        ),
        naming_convention={"source": {"property": "code"}, "pattern": "/x/"},
    )
    plan = plan_structure([desired], {"shots": live})
    assert ((), (), 0) == (plan.steps, plan.forbidden, plan.exit_code)


def test_only_changed_properties_and_labels_are_sent():
    """An update carries what differs (and its companion keys), labels merged by locale."""
    live = family(
        StructureAttribute(
            "title",
            "text",
            labels={"en_US": "Title", "fr_FR": "Titre"},
            properties={"max_characters": 50, "is_textarea": False, "is_rich_text_editor": False},
        )
    )
    desired = family(
        StructureAttribute(
            "title",
            "text",
            labels={"en_US": "Title", "de_DE": "Titel"},
            properties={"max_characters": 50, "is_textarea": True, "is_rich_text_editor": False},
        )
    )
    (step,) = plan_structure([desired], {"shots": live}).steps
    assert ("attribute", "update") == (step.kind, step.action)
    assert {
        "type": "text",
        "is_textarea": True,
        "is_rich_text_editor": False,
        "labels": {"de_DE": "Titel"},
    } == step.body
    assert ("is_textarea", "labels.de_DE") == step.changes


@pytest.mark.parametrize(
    ("live", "key"),
    [
        (StructureAttribute("title", "media_link"), "type"),
        (StructureAttribute("title", "text", value_per_locale=True), "value_per_locale"),
        (StructureAttribute("title", "text", value_per_channel=True), "value_per_channel"),
    ],
)
def test_an_immutable_change_is_forbidden_with_its_manual_step(live, key):
    """type, value_per_locale and value_per_channel: an error naming the attribute, no step."""
    plan = plan_structure([family(text("title", max_characters=9))], {"shots": family(live)})
    assert () == plan.steps
    (change,) = plan.forbidden
    assert key == change.key
    assert change.message.startswith(f"attribute shots.title: {key} cannot change")
    assert "delete attribute 'title' of family 'shots'" in change.manual_step
    assert 1 == plan.exit_code


def test_nothing_is_deleted_what_the_file_lacks_is_kept():
    """Attributes and options only in the PIM are reported as kept; no step touches them."""
    live = family(
        StructureAttribute(
            "colour", "single_option", options=(StructureOption("red"), StructureOption("old"))
        ),
        text("legacy"),
    )
    desired = family(
        StructureAttribute("colour", "single_option", options=(StructureOption("red"),))
    )
    plan = plan_structure([desired], {"shots": live})
    assert () == plan.steps
    assert ["option shots.colour.old", "attribute shots.legacy"] == [k.target for k in plan.kept]


def test_option_labels_are_compared_per_locale():
    """An option whose label changed is updated with that locale only."""
    live = family(
        StructureAttribute(
            "colour", "single_option", options=(StructureOption("red", {"en_US": "Red"}),)
        )
    )
    desired = family(
        StructureAttribute(
            "colour",
            "single_option",
            options=(StructureOption("red", {"en_US": "Red", "fr_FR": "Rouge"}),),
        )
    )
    (step,) = plan_structure([desired], {"shots": live}).steps
    assert ("option", "update", {"labels": {"fr_FR": "Rouge"}}) == (
        step.kind,
        step.action,
        step.body,
    )


@pytest.mark.parametrize(
    ("key", "desired", "live", "same"),
    [
        ("max_characters", 50, "50", True),
        ("min_value", "0", "0.0", True),
        ("max_file_size", "10", "20", False),
        ("is_read_only", False, None, True),
        ("validation_rule", "none", None, True),
        ("validation_rule", "email", None, False),
        ("prefix", "", None, False),
    ],
)
def test_properties_compare_as_the_pim_spells_them(key, desired, live, same):
    """Numbers by value, defaults for properties an older PIM does not return."""
    assert same == same_property(key, desired, live)


# -- against the simulator ------------------------------------------------------------------


async def _export(seed: dict[str, Any], tmp_path: Path) -> Path:
    async with pim_of(create_pim_app(seed)) as pim:
        live = await export_live(pim)
    model, skipped = structure_file_of(live)
    assert [] == skipped
    path = tmp_path / "structure.toml"
    path.write_text(toml_text(model, header="exported"), encoding="utf-8")
    return path


async def test_export_then_apply_on_an_empty_pim_then_plan_shows_no_change(tmp_path):
    """The done-when: export -> apply on an empty simulator -> plan = no change."""
    path = await _export(SEED, tmp_path)
    desired = desired_families(load_structure(path))
    app = create_pim_app(EMPTY)
    async with pim_of(app) as pim:
        first = await plan_against(pim, desired)
        assert 2 == first.exit_code
        assert len(first.steps) == await apply_steps(pim, first.steps)
        again = await plan_against(pim, desired)
    assert ((), (), 0) == (again.steps, again.forbidden, again.exit_code)
    source = create_pim_app(SEED).state.pim.families
    target = app.state.pim.families
    assert sorted(source) == sorted(target)
    for code, fam in source.items():
        assert fam.to_json() == target[code].to_json()
        assert fam.attributes == target[code].attributes
        assert fam.options == target[code].options


async def test_the_example_file_applies_and_then_plans_no_change():
    """Every attribute type, a naming convention, a link rule and a transformation converge."""
    desired = desired_families(load_structure(EXAMPLE))
    app = create_pim_app(EMPTY)
    async with pim_of(app) as pim:
        plan = await plan_against(pim, desired)
        await apply_steps(pim, plan.steps)
        again = await plan_against(pim, desired)
    assert () == again.steps
    stored = app.state.pim.families["model_pictures"]
    assert "main_image" == stored.attribute_as_main_media
    assert "/(?P<product_ref>.*)-.*/" == stored.naming_convention["pattern"]
    assert [
        {
            "field": "sku",
            "operator": "EQUALS",
            "value": "{{product_ref}}",
            "locale": None,
            "channel": None,
        }
    ] == stored.product_link_rules[0]["product_selections"]
    assert {"attribute": "thumbnail", "channel": None, "locale": None} == (
        stored.transformations[0]["target"]
    )
    assert {"en_US": "Summer", "de_DE": "Sommer"} == stored.options["seasons"]["summer"]["labels"]


async def test_a_second_apply_sends_nothing(tmp_path):
    """Apply is idempotent: the second plan is empty, so no PATCH is sent."""
    desired = desired_families(load_structure(EXAMPLE))
    sent: list[str] = []
    app = create_pim_app(EMPTY)

    async def record(request: httpx.Request) -> None:
        if request.method == "PATCH":
            sent.append(request.url.path)

    auth = PasswordAuth(
        client_id="demo_client", secret="demo_secret", username="demo", password="demo"
    )
    transport = httpx.ASGITransport(app)
    async with PimClient("http://pim.sim", auth=auth, transport=transport) as pim:
        pim.upstream.client.event_hooks["request"].append(record)
        await apply_steps(pim, (await plan_against(pim, desired)).steps)
        assert sent
        sent.clear()
        await apply_steps(pim, (await plan_against(pim, desired)).steps)
    assert [] == sent


async def test_a_forbidden_change_against_the_pim_is_an_error_not_a_step(tmp_path):
    """The seeded `title` is text per locale: asking for it per channel is refused up front."""
    path = await _export(SEED, tmp_path)
    content = path.read_text(encoding="utf-8")
    marker = (
        'code = "title"\ntype = "text"\nlabels = { en_US = "Title" }\nvalue_per_locale = true\n'
    )
    assert content.count(marker) == 2  # notices and packshots
    changed = content.replace(
        marker + "value_per_channel = false", marker + "value_per_channel = true", 1
    )
    desired = desired_families(parse_structure(tomllib.loads(changed)))
    async with pim_of(create_pim_app(SEED)) as pim:
        plan = await plan_against(pim, desired)
    assert 1 == plan.exit_code
    expected = (
        "attribute notices.title: value_per_channel cannot change from false to true "
        "through the API"
    )
    assert [expected] == [f.message for f in plan.forbidden]


async def test_a_refused_step_stops_the_apply_and_says_how_far_it_got():
    """The PIM refusing a step raises with the step and the count applied before it."""
    bad = StructureFamily(
        "shots",
        attributes=(StructureAttribute("media", "media_file", properties={"media_type": "video"}),),
    )
    async with pim_of(create_pim_app(EMPTY)) as pim:
        plan = await plan_against(pim, [bad])
        with pytest.raises(StructureStepError) as caught:
            await apply_steps(pim, plan.steps)
    assert ("attribute shots.media", 1) == (caught.value.step.target, caught.value.done)
