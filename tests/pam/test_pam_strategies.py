"""The strategies' decisions, pure: what each family, attribute, option and value becomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from daemon.engine.pam_manual import existing_family
from daemon.engine.pam_migrate import CollectionLink, build_plan, outcome
from daemon.engine.pam_strategy import FamilyPlan, PamOptions, created_family
from daemon.engine.pam_survey import FamilySurvey, PamSurvey
from daemon.engine.pam_values import SkippedAsset, TargetAsset, TargetValue, precheck
from daemon.pam import PamAsset, PamFile
from daemon.pim.structure_records import StructureAttribute, StructureFamily, StructureOption


def _asset(
    code: str = "a",
    localizable: bool | None = False,
    tags: Sequence[str] = (),
    categories: Sequence[str] = (),
    **extra: Any,
) -> PamAsset:
    references = extra.pop("references", None)
    if references is None:
        references = {"en_US": PamFile("k/en.jpg")} if localizable else {None: PamFile("k/a.jpg")}
    return PamAsset(
        code=code,
        localizable=localizable,
        tags=tuple(tags),
        categories=tuple(categories),
        references=references,
        **extra,
    )


def _survey(assets: Sequence[PamAsset], family: str = "fam") -> FamilySurvey:
    survey = PamSurvey()
    for asset in assets:
        survey.add(family, asset)
    return survey.families[family]


def _attributes(plan: FamilyPlan) -> dict[str, tuple[str, bool, bool]]:
    return {
        a.code: (a.type, a.value_per_locale, a.value_per_channel) for a in plan.structure.attributes
    }


@pytest.mark.parametrize(
    ("flags", "expected_type", "main", "media"),
    [
        ((False, False), "non-localizable", "reference", {"reference", "variation_scopable"}),
        (
            (True, True),
            "localizable",
            "reference_localizable",
            {"reference_localizable", "variation_localizable_scopable"},
        ),
        (
            (True, False),
            "both",
            "reference",
            {
                "reference",
                "variation_scopable",
                "reference_localizable",
                "variation_localizable_scopable",
            },
        ),
    ],
)
def test_reference_type_comes_from_the_data(flags, expected_type, main, media):
    """Mixed data gives both; localizable-only gets reference_localizable as main media."""
    plan = created_family(_survey([_asset("a", flags[0]), _asset("b", flags[1])]), PamOptions(), {})
    attributes = _attributes(plan)
    assert (expected_type, main) == (plan.reference_type, plan.structure.attribute_as_main_media)
    assert media == {code for code, (kind, _, _) in attributes.items() if kind == "media_file"}
    flags_of = {"reference": (False, False), "variation_scopable": (False, True)}
    flags_of |= {
        "reference_localizable": (True, False),
        "variation_localizable_scopable": (True, True),
    }
    assert {code: flags_of[code] for code in media} == {
        code: attributes[code][1:] for code in media
    }


def test_the_eight_attributes_as_csvtoasset_creates_them():
    """Codes, types and flags; never a scopable reference; required for completeness false."""
    assets = [
        _asset("a", False, tags=["x"], categories=["c1"], end_of_use=date(2030, 1, 1)),
        _asset("b", True, categories=["c2"]),
    ]
    plan = created_family(_survey(assets), PamOptions(), {})
    assert {
        "reference": ("media_file", False, False),
        "variation_scopable": ("media_file", False, True),
        "reference_localizable": ("media_file", True, False),
        "variation_localizable_scopable": ("media_file", True, True),
        "description": ("text", False, False),
        "categories": ("multiple_options", False, False),
        "tags": ("multiple_options", False, False),
        "end_of_use": ("text", False, False),
    } == _attributes(plan)
    assert all(
        a.properties["is_required_for_completeness"] is False for a in plan.structure.attributes
    )


@pytest.mark.parametrize(
    ("count", "bad", "kind"),
    [
        (100, False, "multiple_options"),
        (101, False, "text"),
        (3, True, "text"),
        (0, False, "multiple_options"),
    ],
)
def test_tags_become_options_only_with_at_most_100_valid_codes(count, bad, kind):
    """Exactly 100 is still options; 101 or one code breaking the rule gives text."""
    tags = [f"t{i}" for i in range(count)] + (["bad-tag"] if bad else [])
    plan = created_family(_survey([_asset("a", tags=tags)]), PamOptions(), {})
    decision = plan.decision("tags")
    assert decision is not None and kind == decision.kind
    if kind == "multiple_options":
        assert count == len(decision.options)


@pytest.mark.parametrize(
    ("categories", "choice", "migrated"),
    [
        (["c1"], "auto", False),
        (["c1", "c2"], "auto", True),
        (["c1"], "yes", True),
        (["c1", "c2"], "no", False),
    ],
)
def test_categories_auto_means_more_than_one(categories, choice, migrated):
    """with_categories=auto imports categories only when more than 1 distinct one is found."""
    assets = [_asset(f"a{i}", categories=[c]) for i, c in enumerate(categories)]
    plan = created_family(_survey(assets), PamOptions(with_categories=choice), {})
    assert migrated == ("categories" in plan.roles)


@pytest.mark.parametrize(
    ("value", "choice", "migrated"),
    [(None, "auto", False), (date(2030, 1, 1), "auto", True), (date(2030, 1, 1), "no", False)],
)
def test_end_of_use_auto_means_any_value(value, choice, migrated):
    """with_end_of_use=auto creates the attribute when any asset has a date."""
    plan = created_family(
        _survey([_asset(end_of_use=value)]), PamOptions(with_end_of_use=choice), {}
    )
    assert migrated == ("end_of_use" in plan.roles)


def test_category_options_get_the_category_labels():
    """API mode: option labels come from GET /asset-categories."""
    assets = [_asset("a", categories=["front", "back"])]
    plan = created_family(_survey(assets), PamOptions(), {"front": {"en_US": "Front views"}})
    categories = next(a for a in plan.structure.attributes if a.code == "categories")
    assert (
        StructureOption("front", {"en_US": "Front views"}),
        StructureOption("back", {}),
    ) == categories.options


@pytest.mark.parametrize(
    ("extensions", "media"),
    [(["jpg", "png"], "image"), (["pdf"], "pdf"), (["jpg", "pdf"], "other")],
)
def test_media_type_follows_the_reference_files(extensions, media):
    """image for images, pdf for PDFs, other when mixed (CsvToAsset says image for all)."""
    assets = [
        _asset(f"a{i}", references={None: PamFile(f"k/{i}.{ext}")})
        for i, ext in enumerate(extensions)
    ]
    plan = created_family(_survey(assets), PamOptions(), {})
    assert media == plan.structure.attributes[0].properties["media_type"]


def test_attribute_codes_are_mapped():
    """CsvToAsset's --mapping keys rename the attributes; per family first."""
    options = PamOptions(
        attribute_codes={"reference": "main_image", "tags": "keywords"},
        family_attribute_codes={"fam": {"tags": "labels"}},
    )
    plan = created_family(_survey([_asset(tags=["x"])]), options, {})
    assert ("main_image", "labels") == (plan.roles["reference"], plan.roles["tags"])
    assert "main_image" == plan.structure.attribute_as_main_media


def test_values_of_an_asset():
    """References, variations per channel/locale, description, options, text, end_of_use."""
    asset = PamAsset(
        code="shirt",
        localizable=True,
        description="Cotton",
        end_of_use=date(2030, 5, 6),
        tags=("summer", "bad-tag"),
        categories=("front",),
        references={"en_US": PamFile("k/en.jpg"), "fr_FR": PamFile("k/fr.jpg")},
        variations={("ecommerce", "en_US"): PamFile("k/en_e.jpg")},
    )
    plain = _asset("plain", categories=["back"], end_of_use=date(2031, 1, 1))
    survey = _survey([asset, plain])
    plan = build_plan(PamSurvey(families={"fam": survey}), PamOptions())
    result = outcome(plan, asset, lambda a: "fam")
    assert isinstance(result, TargetAsset)
    values = {(v.attribute, v.locale, v.channel): v.data for v in result.values}
    assert PamFile("k/en.jpg") == values[("reference_localizable", "en_US", None)]
    assert PamFile("k/en_e.jpg") == values[("variation_localizable_scopable", "en_US", "ecommerce")]
    assert ("Cotton", "2030-05-06") == (
        values[("description", None, None)],
        values[("end_of_use", None, None)],
    )
    assert "summer,bad-tag" == values[("tags", None, None)]  # one bad code: tags are text
    assert ("front",) == values[("categories", None, None)]
    assert 3 == len(result.files())


@pytest.mark.parametrize(
    ("asset", "family", "options", "reason"),
    [
        (_asset("bad-code"), "fam", PamOptions(), "the code breaks"),
        (_asset("a"), None, PamOptions(), "no family for this asset"),
        (_asset("a"), "bad family", PamOptions(), "family code 'bad family' breaks"),
        (
            _asset("a", True),
            "fam",
            PamOptions(reference_type="non-localizable"),
            "a localizable asset",
        ),
        (
            _asset("a", references={}),
            "fam",
            PamOptions(skip_without_media=True),
            "no reference file",
        ),
    ],
)
def test_skipped_assets_carry_their_reason(asset, family, options, reason):
    """Invalid code, no family, a bad family code, a forced type, no media: each a reason."""
    found = precheck(asset, family, options)
    assert found is not None and found.startswith(reason)


def test_family_by_family_and_the_collection_map():
    """One family per value; relink commands carry the family and its attributes."""
    survey = PamSurvey()
    survey.add("packshots", _asset("a"))
    survey.add("notices", _asset("b", references={None: PamFile("k/b.pdf")}))
    links = [
        CollectionLink("pack_images", "packshots"),
        CollectionLink("main_images", "packshots"),
        CollectionLink("user_manuals", "notices"),
    ]
    plan = build_plan(survey, PamOptions(strategy="family-by-family"), links=links)
    assert ["notices", "packshots"] == [f.code for f in plan.families]
    assert [] == list(plan.problems)
    assert [
        "bin/console pimee:assets:migrate:migrate-pam-attributes notices user_manuals",
        "bin/console pimee:assets:migrate:migrate-pam-attributes packshots pack_images main_images",
    ] == plan.relink_commands()
    bad = build_plan(
        survey, PamOptions(strategy="family-by-family"), links=[CollectionLink("x", "videos")]
    )
    assert ["collection attribute x -> family videos: no asset goes to that family"] == list(
        bad.problems
    )


def test_automatic_relinks_every_collection_to_its_family():
    """One family and no map: the relink command with the family argument the guides forget."""
    survey = PamSurvey()
    survey.add("assets", _asset("a"))
    assert ["bin/console pimee:assets:migrate:migrate-pam-attributes assets"] == build_plan(
        survey, PamOptions()
    ).relink_commands()


def _modelled() -> StructureFamily:
    return StructureFamily(
        code="packshots",
        attributes=(
            StructureAttribute("main_image", "media_file"),
            StructureAttribute(
                "keywords",
                "multiple_options",
                options=tuple(StructureOption(f"o{i}") for i in range(99)),
            ),
            StructureAttribute("notes", "text", properties={"max_characters": 5}),
            StructureAttribute("expires", "date"),
        ),
    )


def test_manual_maps_onto_modelled_attributes_and_creates_missing_options():
    """Mapped roles go to existing attributes; one option fits (99 exist), the next overflows."""
    options = PamOptions(
        strategy="manual",
        attribute_codes={
            "reference": "main_image",
            "tags": "keywords",
            "description": "notes",
            "end_of_use": "expires",
        },
    )
    asset = _asset(
        "a", tags=["o1", "new1", "new2"], description="Too long text", end_of_use=date(2030, 1, 2)
    )
    survey = PamSurvey()
    survey.add("packshots", asset)
    plan = build_plan(survey, options, existing=[_modelled()])
    assert [] == list(plan.problems)
    family = plan.families[0]
    decision = family.decision("tags")
    assert decision is not None and ("new1",) == decision.options
    assert 100 == len(family.structure.attributes[0].options or ())
    result = outcome(plan, asset, lambda a: "packshots")
    assert isinstance(result, TargetAsset)
    values = {v.attribute: v.data for v in result.values}
    assert (("o1", "new1"), "Too l", "2030-01-02T00:00:00+00:00") == (
        values["keywords"],
        values["notes"],
        values["expires"],
    )
    assert {"bad_value"} == {n.kind for n in result.notes}
    assert any(
        "variation_scopable: family packshots has no attribute" in line for line in family.lines
    )


def test_manual_refuses_an_attribute_of_the_wrong_kind():
    """reference onto a localizable attribute, tags onto a number: problems naming both."""
    family = StructureFamily(
        code="f",
        attributes=(
            StructureAttribute("reference", "media_file", value_per_locale=True),
            StructureAttribute("tags", "number"),
        ),
    )
    _, problems = existing_family(
        _survey([_asset()], "f"), family, PamOptions(strategy="manual"), {}
    )
    assert 2 == len(problems)
    assert problems[0].startswith(
        "family f: reference goes to attribute reference, which must be a media_file"
    )
    assert "tags goes to attribute tags, which must be multiple_options or text" in problems[1]


def test_manual_skips_assets_of_families_not_modelled():
    """An asset whose family is not modelled is skipped with that reason."""
    survey = PamSurvey()
    survey.add("videos", _asset("a"))
    plan = build_plan(survey, PamOptions(strategy="manual"), existing=[_modelled()])
    result = outcome(plan, _asset("a"), lambda a: "videos")
    assert isinstance(result, SkippedAsset) and "family videos is not modelled" == result.reason
    assert ["family videos is not modelled: its 1 asset(s) are skipped"] == list(plan.lines)


def test_too_many_families_is_a_problem():
    """More than 100 families: the Asset Manager's limit, before anything is written."""
    survey = PamSurvey()
    for i in range(101):
        survey.add(f"f{i}", _asset(f"a{i}"))
    plan = build_plan(survey, PamOptions(strategy="family-by-family"))
    assert ["101 families, over the 100 the Asset Manager holds"] == list(plan.problems)


def test_target_value_records_are_frozen():
    """Plan records cannot be changed after the decision."""
    value = TargetValue("a", None, None, "x")
    with pytest.raises(AttributeError):
        value.data = "y"  # type: ignore[misc]
