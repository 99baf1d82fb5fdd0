"""Options created with labels in every active locale the DAM gives (``option_labels``)."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.core.records import Channel
from daemon.mapping import MappedAsset, Mapper, MissingOption, load_mapping
from daemon.mapping.option_labels import fallback_locale, localized_labels
from daemon.mapping.validate import validate_rules
from tests.mapping.factories import CHANNELS, FAMILIES, image

ACTIVE = frozenset({"en_US", "fr_FR", "de_DE"})


def mapper(attributes: dict[str, Any], channels: Any = CHANNELS, *, fast: bool = True) -> Mapper:
    rules = load_mapping(
        {
            "create_missing_options": True,
            "families": [{"family": "packshots", "attributes": attributes}],
        }
    )
    return Mapper(rules, FAMILIES, channels, fast=fast)


def missing(result: Any) -> tuple[MissingOption, ...]:
    assert isinstance(result, MappedAsset), result
    return result.missing_options


@pytest.mark.parametrize("fast", [True, False])
def test_a_single_option_given_as_a_label_map_gets_every_active_label(fast):
    """The code comes from the picked locale; the labels from every active locale given."""
    colour = {"en_US": "Teal", "fr_FR": "Sarcelle", "de_DE": "", "es_ES": "Verde azulado"}
    rule = {
        "colour": {"path": "metadata.colour", "locale": "en_US", "option_labels": "metadata.colour"}
    }
    got = missing(mapper(rule, fast=fast).map_asset(image(colour=colour)))
    labels = (("en_US", "Teal"), ("fr_FR", "Sarcelle"))
    assert (MissingOption("packshots", "colour", "teal", "Teal", labels),) == got


def test_labels_per_dam_value_for_multiple_options():
    """Labels keyed by DAM value, each keyed by locale; renamed DAM locale keys."""
    rule = {
        "tags": {
            "path": "metadata.tags",
            "option_labels": "metadata.tag_labels",
            "locales": {"fr": "fr_FR"},
        }
    }
    asset = image(
        tags=["summer", "Beach Wear", "Rain"],
        tag_labels={
            "beach wear": {"en_US": "Beach wear", "fr": "Tenue de plage"},
            "Rain": "not an object",
        },
    )
    got = {o.code: o.labels for o in missing(mapper(rule).map_asset(asset))}
    assert {
        "beach_wear": (("en_US", "Beach wear"), ("fr_FR", "Tenue de plage")),
        "rain": (),  # nothing usable: the DAM label in en_US, as before
    } == got


def test_a_flat_label_map_is_not_guessed_for_several_options():
    rule = {"tags": {"path": "metadata.tags", "option_labels": "metadata.labels"}}
    asset = image(tags=["Rain", "Snow"], labels={"en_US": "Rain", "fr_FR": "Pluie"})
    assert {()} == {o.labels for o in missing(mapper(rule).map_asset(asset))}


def test_without_option_labels_the_label_goes_in_en_us():
    got = missing(mapper({"colour": "metadata.colour"}).map_asset(image(colour="Teal")))
    assert (MissingOption("packshots", "colour", "teal", "Teal"),) == got


def test_without_en_us_active_the_label_goes_in_an_active_locale():
    channels = (Channel("ecommerce", ("fr_FR", "de_DE")),)
    got = missing(mapper({"colour": "metadata.colour"}, channels).map_asset(image(colour="Teal")))
    assert (("de_DE", "Teal"),) == got[0].labels


def test_an_existing_option_is_not_created_whatever_its_labels():
    rule = {
        "colour": {"path": "metadata.colour", "locale": "en_US", "option_labels": "metadata.colour"}
    }
    asset = image(colour={"en_US": "Red", "fr_FR": "Rouge"})
    assert () == missing(mapper(rule).map_asset(asset))


def test_option_labels_needs_an_option_attribute():
    rules = load_mapping(
        {
            "families": [
                {
                    "family": "packshots",
                    "attributes": {
                        "product_ref": {"path": "metadata.sku", "option_labels": "metadata.x"}
                    },
                }
            ]
        }
    )
    problems = validate_rules(rules, FAMILIES, CHANNELS, prefix="m")
    assert ["m.families[0].attributes.product_ref.option_labels"] == [p.path for p in problems]
    assert "option_labels needs an option attribute" == problems[0].message


@pytest.mark.parametrize(
    ("raw", "label", "single", "expected"),
    [
        (None, "Red", True, ()),
        ({}, "Red", True, ()),
        ({"en_US": "Red", "fr_FR": " Rouge "}, "Red", True, (("en_US", "Red"), ("fr_FR", "Rouge"))),
        ({"en_US": "Red"}, "Red", False, ()),
        ({"Red": {"fr_FR": "Rouge", "it_IT": "Rosso"}}, "Red", False, (("fr_FR", "Rouge"),)),
        ({"RED": {"fr_FR": "Rouge"}}, "red", False, (("fr_FR", "Rouge"),)),
        ({"Blue": {"fr_FR": "Bleu"}}, "Red", True, ()),
        ({"en_US": 5, "fr_FR": None}, "Red", True, ()),
        (["Red"], "Red", True, ()),
    ],
)
def test_localized_labels(raw, label, single, expected):
    assert expected == localized_labels(raw, label, single=single, renames={}, active=ACTIVE)


@pytest.mark.parametrize(
    ("active", "expected"),
    [((), "en_US"), (("fr_FR", "en_US"), "en_US"), (("fr_FR", "de_DE"), "de_DE")],
)
def test_fallback_locale(active, expected):
    assert expected == fallback_locale(active)
