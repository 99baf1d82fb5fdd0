"""Mapping warnings: a transformation's target written, the main media left empty."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from daemon.mapping import load_mapping, mapping_warnings
from tests.mapping.factories import FAMILIES, attribute

PACKSHOTS = FAMILIES["packshots"]
WITH_THUMB = replace(
    PACKSHOTS,
    attributes={**PACKSHOTS.attributes, "thumb": attribute("thumb", "media_file")},
    attribute_as_main_media="media",
)
THUMBNAIL = {
    "label": "Thumbnail",
    "filename_suffix": "_thumb",
    "source": {"attribute": "media", "channel": None, "locale": None},
    "target": {"attribute": "thumb", "channel": None, "locale": None},
    "operations": [{"type": "thumbnail", "parameters": {"width": 150, "height": 150}}],
}


def warnings(
    attributes: dict[str, Any], family: Any = WITH_THUMB, transformations: Any = None
) -> list[str]:
    rules = load_mapping({"families": [{"family": "packshots", "attributes": attributes}]})
    found = mapping_warnings(
        rules, {"packshots": family}, transformations, prefix="sources[0].mapping"
    )
    return [f"{w.path}: {w.message}" for w in found]


def test_a_written_transformation_target_is_one_warning_naming_it():
    got = warnings(
        {"media": {"binary": True}, "thumb": {"binary": True}},
        transformations={"packshots": [THUMBNAIL]},
    )
    assert [
        "sources[0].mapping.families[0].attributes.thumb: family 'packshots': attribute 'thumb' "
        "is the target of the transformation 'Thumbnail' (from 'media'): the PIM overwrites "
        "what damsync writes there; map the source attribute instead"
    ] == got


def test_a_rule_without_the_main_media_is_warned():
    got = warnings({"title": "metadata.title"})
    assert [
        "sources[0].mapping.families[0].attributes: family 'packshots': the rule maps no value "
        "to attribute_as_main_media 'media': its assets have no main media (no preview in the PIM)"
    ] == got


def test_a_family_without_a_main_media_is_warned():
    got = warnings(
        {"media": {"binary": True}}, family=replace(WITH_THUMB, attribute_as_main_media=None)
    )
    assert 1 == len(got)
    assert "has no attribute_as_main_media" in got[0]


def test_a_main_media_filled_by_a_transformation_of_a_mapped_source_is_fine():
    family = replace(WITH_THUMB, attribute_as_main_media="thumb")
    assert [] == warnings(
        {"media": {"binary": True}}, family=family, transformations={"packshots": [THUMBNAIL]}
    )


def test_a_clean_mapping_has_no_warning_and_bad_entries_are_skipped():
    broken = [{"target": "thumb"}, {"label": 3, "target": {"attribute": "other"}}, {}]
    assert [] == warnings({"media": {"binary": True}}, transformations={"packshots": broken})


def test_unknown_families_are_problems_not_warnings():
    rules = load_mapping({"families": [{"family": "nope", "attributes": {}}]})
    assert [] == mapping_warnings(rules, {})
