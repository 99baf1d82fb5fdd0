"""What counts as a drifted value: only the keys damsync maps, compared canonically."""

from __future__ import annotations

from daemon.core.records import BinaryRef, PimAsset, PimValue
from daemon.engine.drift_values import expected_of, keys_of, values_hash
from daemon.mapping import MappedAsset, MediaRequest

TITLE = ("title", "en_US", None)
TAGS = ("tags", None, None)
MEDIA = ("media", None, None)


def mapped(values: dict[str, tuple[PimValue, ...]]) -> MappedAsset:
    return MappedAsset("a-1", PimAsset("packshots", "a_1", values), (), (), "h")


def test_values_outside_the_keys_are_never_drift():
    """A value on an attribute (or locale) damsync does not map leaves the hash alone."""
    keys = {TITLE}
    mine = {"title": (PimValue("Hat", "en_US"),)}
    edited = {
        "title": (PimValue("Hat", "en_US"), PimValue("Chapeau", "fr_FR")),
        "dam_url": (PimValue("https://elsewhere"),),
    }
    assert values_hash("packshots", "a_1", mine, keys) == values_hash(
        "packshots", "a_1", edited, keys
    )


def test_an_edited_mapped_value_is_drift():
    """A different value on a mapped key changes the hash."""
    keys = {TITLE}
    mine = {"title": (PimValue("Hat", "en_US"),)}
    edited = {"title": (PimValue("Cap", "en_US"),)}
    assert values_hash("packshots", "a_1", mine, keys) != values_hash(
        "packshots", "a_1", edited, keys
    )


def test_order_and_empty_values_do_not_count():
    """Option order, value order and empty data (null, "", []) compare as the PIM stores them."""
    keys = {TITLE, TAGS, ("colour", None, None)}
    sent = {
        "tags": (PimValue(["red", "blue"]),),
        "title": (PimValue("Hat", "en_US"),),
        "colour": (PimValue(""),),
    }
    stored = {"title": (PimValue("Hat", "en_US"),), "tags": (PimValue(["blue", "red"]),)}
    assert values_hash("packshots", "a_1", sent, keys) == values_hash(
        "packshots", "a_1", stored, keys
    )


def test_expected_values_put_the_known_media_code_in_place_of_the_binary():
    """The mapping's media placeholder compares with the media code damsync uploaded."""
    request = MediaRequest("media", None, None, BinaryRef(url="https://dam/x.jpg"))
    asset = mapped({"media": (PimValue(request),), "title": (PimValue("Hat", "en_US"),)})
    keys_text, expected = expected_of(asset, "1/2/x.jpg")
    keys = keys_of(keys_text)
    assert {MEDIA, TITLE} == keys
    in_pim = {"media": (PimValue("1/2/x.jpg"),), "title": (PimValue("Hat", "en_US"),)}
    replaced = {"media": (PimValue("9/9/other.jpg"),), "title": (PimValue("Hat", "en_US"),)}
    assert expected == values_hash("packshots", "a_1", in_pim, keys)
    assert expected != values_hash("packshots", "a_1", replaced, keys)


def test_a_managed_key_the_mapping_no_longer_fills_must_be_empty_in_the_pim():
    """A key damsync wrote before and now erases (a null value) is expected empty."""
    erasure = PimValue(None, "en_US")
    asset = mapped({"title": (PimValue("Hat", "en_US"),), "description": (erasure,)})
    keys_text, expected = expected_of(asset, None)
    keys = keys_of(keys_text)
    erased = {"title": (PimValue("Hat", "en_US"),)}
    left = {**erased, "description": (PimValue("old text", "en_US"),)}
    assert expected == values_hash("packshots", "a_1", erased, keys)
    assert expected != values_hash("packshots", "a_1", left, keys)
