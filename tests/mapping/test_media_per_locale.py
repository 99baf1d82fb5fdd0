"""
``file`` sources: several media_file values per asset, one DAM file per locale or per channel.
"""

from __future__ import annotations

from typing import Any

import pytest

from daemon.core.records import AssetFamily, BinaryRef, DamAsset
from daemon.mapping import MappedAsset, Mapper, MappingFailed, MediaRequest, load_mapping
from daemon.mapping.file_refs import file_reader, is_file
from daemon.mapping.paths import ValueProblem
from daemon.mapping.rules import FileKeys
from daemon.mapping.validate import validate_rules
from tests.mapping.factories import CHANNELS, WHEN, attribute, family

MANUALS = family(
    "manuals",
    attribute("media", "media_file", media_type="pdf"),
    attribute(
        "manual", "media_file", media_type="pdf", value_per_locale=True, allowed_extensions=("pdf",)
    ),
    attribute("preview", "media_file", media_type="image", value_per_channel=True),
    attribute(
        "sheet", "media_file", media_type="pdf", value_per_locale=True, value_per_channel=True
    ),
    attribute("title", "text"),
)
FAMILIES = {"manuals": MANUALS}


def url(name: str) -> str:
    return f"https://dam.example/files/{name}"


def doc(name: str, **more: Any) -> dict[str, Any]:
    return {"url": url(name), "filename": name, "checksum": f"sha256:{name}", **more}


def asset(**metadata: Any) -> DamAsset:
    binary = BinaryRef(url=url("own.pdf"), filename="own.pdf", checksum="own")
    return DamAsset("a1", WHEN, metadata=metadata, binary=binary)


def mapper(attributes: dict[str, Any], *, fast: bool = True) -> Mapper:
    rules = load_mapping({"families": [{"family": "manuals", "attributes": attributes}]})
    return Mapper(rules, FAMILIES, CHANNELS, fast=fast)


def mapped(result: Any) -> MappedAsset:
    assert isinstance(result, MappedAsset), result
    return result


def scoped(result: MappedAsset, attr: str) -> dict[tuple[str | None, str | None], BinaryRef]:
    """The binary each value of ``attr`` asks for, by (locale, channel)."""
    out = {}
    for value in result.asset.values[attr]:
        assert isinstance(value.data, MediaRequest)
        assert (value.data.locale, value.data.channel) == (value.locale, value.channel)
        out[(value.locale, value.channel)] = value.data.binary
    return out


@pytest.mark.parametrize("fast", [True, False])
def test_files_keyed_by_locale_fill_each_active_locale(fast):
    """One request per active locale given; an inactive locale's file is left out."""
    files = {"en_US": doc("en.pdf"), "fr_FR": doc("fr.pdf"), "es_ES": doc("es.pdf")}
    result = mapped(
        mapper({"manual": {"file": "metadata.manuals"}}, fast=fast).map_asset(asset(manuals=files))
    )
    got = scoped(result, "manual")
    assert {("en_US", None), ("fr_FR", None)} == set(got)
    assert (
        BinaryRef(url("fr.pdf"), None, "fr.pdf", None, None, "sha256:fr.pdf")
        == got[("fr_FR", None)]
    )
    assert 2 == len(result.media)


def test_one_file_for_every_locale_is_one_binary():
    """``locale = "*"`` puts one file in every active locale: one binary, several values."""
    result = mapped(
        mapper({"manual": {"file": "metadata.manual", "locale": "*"}}).map_asset(
            asset(manual=url("all.pdf"))
        )
    )
    got = scoped(result, "manual")
    assert {"en_US", "fr_FR", "de_DE"} == {loc for loc, _ in got}
    assert 1 == len({b for b in got.values()})
    assert "all.pdf" == next(iter(got.values())).filename


def test_per_channel_files_come_from_each_channel_source():
    """``channels`` gives each channel its own file path (renditions)."""
    rule = {
        "preview": {
            "channels": {
                "ecommerce": {"file": "metadata.renditions.web"},
                "print": {"file": "metadata.renditions.print"},
            }
        },
        "media": {"binary": True},
    }
    renditions = {"web": doc("web.png"), "print": doc("print.png")}
    result = mapped(mapper(rule).map_asset(asset(renditions=renditions)))
    got = scoped(result, "preview")
    assert {(None, "ecommerce"): "web.png", (None, "print"): "print.png"} == {
        k: b.filename for k, b in got.items()
    }
    # The asset's own binary, the two renditions: three requests, three binaries.
    assert 3 == len({m.binary for m in result.media})


def test_files_by_locale_and_channel():
    """A localizable and scopable attribute: per channel, files keyed by locale."""
    rule = {
        "sheet": {
            "channels": {
                "ecommerce": {"file": "metadata.sheets.web"},
                "print": {"file": "metadata.sheets.print"},
            }
        }
    }
    sheets = {
        "web": {"en_US": doc("web-en.pdf"), "fr_FR": doc("web-fr.pdf")},
        # de_DE is active on print, fr_FR is not.
        "print": {"de_DE": doc("print-de.pdf"), "fr_FR": doc("print-fr.pdf")},
    }
    result = mapped(mapper(rule).map_asset(asset(sheets=sheets)))
    assert {
        ("en_US", "ecommerce"): "web-en.pdf",
        ("fr_FR", "ecommerce"): "web-fr.pdf",
        ("de_DE", "print"): "print-de.pdf",
    } == {k: b.filename for k, b in scoped(result, "sheet").items()}


def test_file_keys_name_the_dam_fields():
    """``file_keys`` reads another DAM's field names; a size may be digits as text."""
    rule = {
        "manual": {
            "file": "metadata.manuals",
            "file_keys": {"url": "href", "checksum": "sha256", "size": "bytes", "filename": "name"},
        }
    }
    files = {"en_US": {"href": url("x"), "sha256": "ab", "bytes": "123", "name": "x.pdf"}}
    got = scoped(mapped(mapper(rule).map_asset(asset(manuals=files))), "manual")
    assert BinaryRef(url("x"), None, "x.pdf", None, 123, "ab") == got[("en_US", None)]


def test_no_file_is_no_value_and_required_says_so():
    """A missing file is no value; with ``required`` it is the asset's error."""
    result = mapped(mapper({"manual": {"file": "metadata.manuals"}}).map_asset(asset()))
    assert "manual" not in result.asset.values
    failed = mapper({"manual": {"file": "metadata.manuals", "required": True}}).map_asset(asset())
    assert isinstance(failed, MappingFailed)
    assert "required value is missing" in failed.errors[0].reason


@pytest.mark.parametrize(
    ("files", "field", "reason"),
    [
        ({"en_US": 5}, "manual[locale=en_US]", "expected a file"),
        ({"en_US": {"filename": "x.pdf"}}, "manual[locale=en_US]", "has no URL"),
        ({"en_US": {"url": ""}}, "manual[locale=en_US]", "has no URL"),
        ({"en_US": {"url": "ftp://dam/x.pdf"}}, "manual[locale=en_US]", "scheme 'ftp'"),
        ({"en_US": doc("x.png")}, "manual[locale=en_US]", "extension 'png' is not allowed"),
        ({"en_US": doc("x.pdf", size=-1)}, "manual[locale=en_US]", "not a byte count"),
        (doc("one.pdf"), "manual", "expected files keyed by locale"),
    ],
)
def test_bad_files_are_per_asset_errors_naming_the_value(files, field, reason):
    """Each problem names the asset, the value (attribute, locale) and why; nothing is sent."""
    result = mapper({"manual": {"file": "metadata.manuals"}}).map_asset(asset(manuals=files))
    assert isinstance(result, MappingFailed), result
    assert [(field, True)] == [(e.field, reason in e.reason) for e in result.errors]
    assert "a1" == result.errors[0].asset_id


def test_the_content_hash_follows_each_locale_file():
    """Another fr_FR file (by checksum) changes the hash; the same files keep it."""
    m = mapper({"manual": {"file": "metadata.manuals"}})
    one = {"en_US": doc("en.pdf"), "fr_FR": doc("fr.pdf")}
    two = {"en_US": doc("en.pdf"), "fr_FR": doc("fr.pdf", checksum="sha256:new")}
    first = mapped(m.map_asset(asset(manuals=one))).content_hash
    assert first == mapped(m.map_asset(asset(manuals=dict(one)))).content_hash
    assert first != mapped(m.map_asset(asset(manuals=two))).content_hash


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"title": {"file": "metadata.x"}},
            ["m.families[0].attributes.title: file needs a media_file attribute, not text"],
        ),
        ({"manual": {"file": "metadata.x"}}, []),
        ({"manual": {"file": "metadata.x", "locale": "es_ES"}}, ["locale 'es_ES' is not active"]),
    ],
)
def test_validate_rules_knows_file_sources(attributes, expected):
    rules = load_mapping({"families": [{"family": "manuals", "attributes": attributes}]})
    problems = validate_rules(rules, FAMILIES, CHANNELS, prefix="m")
    assert len(expected) == len(problems)
    for want, got in zip(expected, problems, strict=True):
        assert want in f"{got.path}: {got.message}"


def test_file_is_one_source_among_the_others():
    with pytest.raises(Exception, match="set exactly one of"):
        load_mapping(
            {
                "families": [
                    {"family": "f", "attributes": {"m": {"file": "metadata.x", "binary": True}}}
                ]
            }
        )
    with pytest.raises(Exception, match="path"):
        load_mapping({"families": [{"family": "f", "attributes": {"m": {"file": "nowhere"}}}]})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://dam/a/b%20c.pdf?sig=1",
            BinaryRef("https://dam/a/b%20c.pdf?sig=1", None, "b c.pdf"),
        ),
        ("/relative/x.pdf", BinaryRef("/relative/x.pdf", None, "x.pdf")),
        (
            {"url": " https://dam/x ", "mime_type": "application/pdf", "size": 5},
            BinaryRef("https://dam/x", None, "x", "application/pdf", 5),
        ),
    ],
)
def test_file_reader(raw, expected):
    assert expected == file_reader(FileKeys())(raw)


def test_file_reader_never_quotes_a_signed_query():
    with pytest.raises(ValueProblem) as info:
        file_reader(FileKeys())({"url": "https://dam/x?token=SECRET", "size": [1]})
    assert "SECRET" not in info.value.reason


def test_is_file_tells_a_file_from_files_by_locale():
    keys = FileKeys()
    assert is_file("https://x", keys) and is_file({"url": "u"}, keys)
    assert not is_file({"en_US": {"url": "u"}}, keys) and not is_file(None, keys)


def test_families_without_file_sources_map_as_before():
    """The asset binary keeps its one request (the family here has no other media)."""
    fam: AssetFamily = family("f", attribute("media", "media_file"))
    rules = load_mapping({"families": [{"family": "f", "attributes": {"media": {"binary": True}}}]})
    result = mapped(Mapper(rules, {"f": fam}, CHANNELS).map_asset(asset()))
    assert [m.binary.filename for m in result.media] == ["own.pdf"]


@pytest.mark.parametrize("fast", [True, False])
def test_an_unreadable_max_file_size_leaves_the_check_to_the_pim(fast):
    """A PIM ``max_file_size`` that is no number never crashes mapping: the PIM checks."""
    fam = family("f", attribute("media", "media_file", max_file_size="lots"))
    rules = load_mapping({"families": [{"family": "f", "attributes": {"media": {"binary": True}}}]})
    result = Mapper(rules, {"f": fam}, CHANNELS, fast=fast).map_asset(asset())
    assert 1 == len(mapped(result).media)
