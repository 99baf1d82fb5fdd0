"""The values a family rule manages: erased when the DAM stops giving them, or kept by opt-out."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.core.errors import ConfigError
from daemon.mapping import MappedAsset, Mapper, load_mapping
from tests.mapping.factories import CHANNELS, FAMILIES, attribute, family, image

LOCALES = ("de_DE", "en_US", "fr_FR")  # every locale active on some channel
SIZED = family(
    "packshots",
    attribute("media", "media_file"),
    attribute("title", "text", value_per_locale=True),
    attribute("size", "number", value_per_channel=True),
    attribute("caption", "text", value_per_locale=True, value_per_channel=True),
    attribute("notes", "text"),
)


def _scope(attributes: dict[str, Any], families: Any = None, **rule: Any) -> Any:
    rules = load_mapping({"families": [{"family": "packshots", "attributes": attributes, **rule}]})
    result = Mapper(rules, families or FAMILIES, CHANNELS).map_asset(image())
    assert isinstance(result, MappedAsset), result
    return result.scope


def test_every_valid_key_of_a_mapped_attribute_is_erasable_by_default():
    """By default each locale and channel the PIM accepts for a mapped attribute is erasable."""
    scope = _scope({"description": "metadata.description", "tags": "metadata.tags"})
    expected = {("description", loc, None) for loc in LOCALES} | {("tags", None, None)}
    assert (expected, frozenset()) == (set(scope.erasable), scope.kept)


def test_an_attribute_opt_out_keeps_its_values():
    """clear_missing = false on an attribute moves its keys from erasable to kept."""
    scope = _scope(
        {
            "description": {"path": "metadata.description", "clear_missing": False},
            "tags": "metadata.tags",
        }
    )
    expected = ({("tags", None, None)}, {("description", loc, None) for loc in LOCALES})
    assert expected == (set(scope.erasable), set(scope.kept))


def test_a_family_opt_out_applies_unless_an_attribute_opts_back_in():
    """clear_missing = false on the family rule holds for every attribute not saying otherwise."""
    scope = _scope(
        {"product_ref": "metadata.sku", "tags": {"path": "metadata.tags", "clear_missing": True}},
        clear_missing=False,
    )
    expected = ({("tags", None, None)}, {("product_ref", None, None)})
    assert expected == (set(scope.erasable), set(scope.kept))


def test_scopable_keys_follow_each_channel_and_its_locales():
    """A scopable attribute manages every channel, with only that channel's active locales."""
    scope = _scope(
        {
            "size": {"channels": {"print": {"path": "metadata.width"}}},
            "caption": {"path": "metadata.title", "channel": "print"},
        },
        families={"packshots": SIZED},
    )
    expected = {("size", None, "ecommerce"), ("size", None, "print")} | {
        ("caption", loc, ch.code) for ch in CHANNELS for loc in ch.locales
    }
    assert expected == set(scope.erasable)


def test_clear_missing_must_be_a_boolean():
    """A clear_missing that is not a boolean is a configuration error naming its path."""
    with pytest.raises(ConfigError) as caught:
        load_mapping(
            {"families": [{"family": "packshots", "clear_missing": "sometimes", "attributes": {}}]}
        )
    message = str(caught.value)
    assert ("mapping.families[0].clear_missing", True) == (
        caught.value.key,
        "Input should be a valid boolean" in message,
    ), message
