"""The structure file: checked as the reference says the PIM will, one line per problem."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from daemon.core.errors import ConfigError
from daemon.service.structure_options import toml_text
from daemon.settings.structure_file import load_structure, parse_structure

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "structure.toml"

MEDIA = '{ code = "media", type = "media_file", media_type = "image" }'


def problems(toml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_structure(tomllib.loads(toml))
    return str(caught.value).splitlines()


def family(body: str = "", attributes: str = MEDIA) -> str:
    return f'[[families]]\ncode = "shots"\nattributes = [{attributes}]\n{body}'


def test_the_example_file_is_valid_and_covers_every_attribute_type():
    """config/examples/structure.toml loads; it shows each type the reference lists."""
    model = load_structure(EXAMPLE)
    types = {a.type for f in model.families for a in f.attributes}
    assert {
        "text",
        "number",
        "media_file",
        "media_link",
        "single_option",
        "multiple_options",
        "boolean",
        "date",
        "record",
    } == types


def test_the_written_file_reads_back_as_the_same_model():
    """toml_text (structure export) writes what load_structure reads back unchanged."""
    model = load_structure(EXAMPLE)
    assert model == parse_structure(tomllib.loads(toml_text(model, header="a\nb")))


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (
            family(attributes='{ code = "t", type = "text", prefix = "x" }'),
            "families[0].attributes[0].prefix: not a property of a text attribute (it takes: "
            "max_characters, is_textarea, is_rich_text_editor, validation_rule, "
            "validation_regexp)",
        ),
        (
            family(attributes='{ code = "m", type = "media_file" }'),
            "families[0].attributes[0].media_type: required for a media_file attribute",
        ),
        (
            family(attributes='{ code = "r", type = "record" }'),
            "families[0].attributes[0].reference_entity: required for a record attribute",
        ),
        (
            family(attributes='{ code = "t", type = "text", is_textarea = true }'),
            "families[0].attributes[0].is_rich_text_editor: required when is_textarea is true",
        ),
        (
            family(attributes='{ code = "t", type = "text", validation_rule = "regexp" }'),
            "families[0].attributes[0].validation_regexp: required when validation_rule is "
            "'regexp'",
        ),
        (
            family(attributes='{ code = "n", type = "number", min_value = 5, max_value = "1" }'),
            "families[0].attributes[0].min_value: must be lower than max_value (5 >= 1)",
        ),
        (
            family(attributes='{ code = "Label", type = "text" }'),
            "families[0].attributes[0].code: 'Label' is reserved (code, label, image)",
        ),
        (
            family(attributes='{ code = "a-b", type = "text" }'),
            "families[0].attributes[0].code: String should match pattern '^[a-zA-Z0-9_]+$'",
        ),
        (
            family(attributes='{ code = "t", type = "auto_tagging" }'),
            "families[0].attributes[0].type: Input should be 'text', 'number', 'media_file', "
            "'media_link', 'single_option', 'multiple_options', 'boolean', 'date' or 'record'",
        ),
        (
            family(
                attributes='{ code = "t", type = "text", options = [{ code = "a" }] }',
            ),
            "families[0].attributes[0].options: not a property of a text attribute (it takes: "
            "max_characters, is_textarea, is_rich_text_editor, validation_rule, "
            "validation_regexp)",
        ),
        (
            family('attribute_as_main_media = "title"'),
            "families[0].attribute_as_main_media: 'title' must be a media_file or media_link "
            "attribute declared in this family",
        ),
        (
            family(
                'naming_convention = { source = { property = "code" }, pattern = "/(?P<ref>.*)/" }'
            ),
            "families[0].naming_convention.pattern: group 'ref' must name a text, single_option "
            "or number attribute of this family, neither per locale nor per channel",
        ),
        (
            family('naming_convention = { pattern = "/x/" }'),
            "families[0].naming_convention: a naming convention needs both source and pattern "
            "(or is empty: {})",
        ),
        (
            family(
                "product_link_rules = ["
                + ", ".join(
                    [
                        '{ product_selections = [{ field = "family", operator = "=", '
                        'value = "x" }], '
                        'assign_assets_to = [{ attribute = "p", mode = "add" }] }'
                    ]
                    * 3
                )
                + "]"
            ),
            "families[0].product_link_rules: at most 2 rules, 3 given",
        ),
        (
            family(
                'product_link_rules = [{ product_selections = [{ field = "enabled", '
                'operator = "=", value = true, locale = "en_US" }], assign_assets_to = '
                '[{ attribute = "p", mode = "add" }] }]'
            ),
            "families[0].product_link_rules[0].product_selections[0]: no locale or channel on "
            "the 'enabled' field",
        ),
        (
            family(
                'product_link_rules = [{ product_selections = [{ field = "sku", operator = "=", '
                'value = "x" }], assign_assets_to = [{ attribute = "p", mode = "merge" }] }]'
            ),
            "families[0].product_link_rules[0].assign_assets_to[0].mode: Input should be 'add' "
            "or 'replace'",
        ),
    ],
)
def test_each_problem_is_one_line_naming_its_path(toml, line):
    """A broken rule of the reference gives exactly one line, with the path in the file."""
    assert [line] == problems(toml)


def transformation(**overrides: str) -> str:
    fields = {
        "label": '"t"',
        "filename_suffix": '"_t"',
        "source": '{ attribute = "media" }',
        "target": '{ attribute = "thumb" }',
        "operations": '[{ type = "thumbnail", parameters = { width = 10, height = 10 } }]',
        **overrides,
    }
    return "{ " + ", ".join(f"{k} = {v}" for k, v in fields.items() if v) + " }"


T0 = "families[0].transformations[0]"
OP = T0 + ".operations[0].parameters: "
RESOLUTION = 'parameters = { resolution-x = 1, resolution-y = 1, resolution-unit = "dpi" }'
RESIZE_TWICE = (
    '[{ type = "resize", parameters = { width = 1, height = 1 } }, '
    '{ type = "resize", parameters = { width = 2, height = 2 } }]'
)
TWO_MEDIA = MEDIA + ', { code = "thumb", type = "media_file", media_type = "image" }'


@pytest.mark.parametrize(
    ("item", "line"),
    [
        (
            transformation(filename_suffix=""),
            T0 + ": a filename_prefix or a filename_suffix is required",
        ),
        (
            transformation(filename_suffix='"a/b"'),
            T0 + ".filename_suffix: only letters, digits, '_', '.', '-' and spaces",
        ),
        (
            transformation(target='{ attribute = "media" }'),
            T0 + ".source: 'media' is also a transformation's target",
        ),
        (
            transformation(target='{ attribute = "nope" }'),
            T0 + ".target: 'nope' must be a media_file attribute declared in this family",
        ),
        (
            transformation(operations='[{ type = "thumbnail", parameters = { width = 10 } }]'),
            OP + "'height' is required for thumbnail",
        ),
        (
            transformation(operations='[{ type = "scale" }]'),
            OP + "scale needs width, height or ratio",
        ),
        (
            transformation(
                operations='[{ type = "colorspace", parameters = { colorspace = "cmyk" } }]'
            ),
            OP + "'colorspace' must be rgb or grey",
        ),
        (
            transformation(
                operations='[{ type = "optimize_jpeg", parameters = { quality = 100 } }]'
            ),
            OP + "'quality' must be a number between 0 and 100 (exclusive)",
        ),
        (
            transformation(
                operations='[{ type = "resize", parameters = '
                "{ width = 1, height = 1, depth = 2 } }]"
            ),
            OP + "'depth' is not a parameter of resize (it takes: height, width)",
        ),
        (
            transformation(operations=f'[{{ type = "resolution", {RESOLUTION} }}]'),
            OP + "'resolution-unit' must be ppi or ppc",
        ),
        (
            transformation(operations=RESIZE_TWICE),
            T0 + ".operations[1].type: 'resize' appears twice in this transformation",
        ),
    ],
)
def test_transformations_are_checked_as_the_reference_lists(item, line):
    """Prefix/suffix, sources and targets, and each operation's parameters."""
    assert [line] == problems(family(f"transformations = [{item}]", TWO_MEDIA))


def test_at_most_ten_transformations():
    """An 11th transformation is refused (targets repeat too, which is its own line)."""
    items = ", ".join([transformation()] * 11)
    found = problems(family(f"transformations = [{items}]", TWO_MEDIA))
    assert "families[0].transformations: at most 10 transformations, 11 given" == found[0]


def test_several_problems_give_one_line_each():
    """Three broken attributes: three lines, in file order."""
    toml = family(
        attributes='{ code = "a", type = "media_link" }, { code = "b", type = "text", '
        'suffix = "x" }, { code = "a", type = "boolean" }'
    )
    assert [
        "families[0].attributes[0].media_type: required for a media_link attribute",
        "families[0].attributes[1].suffix: not a property of a text attribute (it takes: "
        "max_characters, is_textarea, is_rich_text_editor, validation_rule, validation_regexp)",
        "families[0].attributes[2].code: attribute 'a' is declared twice",
    ] == problems(toml)


def test_unknown_keys_and_bad_types_are_pydantic_lines_with_paths():
    """A typo in a key and a wrong type: one line each, paths with [index]."""
    toml = family(attributes='{ code = "t", type = "text", max_charcters = 5, is_textarea = "x" }')
    assert [
        "families[0].attributes[0].is_textarea: Input should be a valid boolean, unable to "
        "interpret input",
        "families[0].attributes[0].max_charcters: Extra inputs are not permitted",
    ] == problems(toml)


def test_an_unreadable_file_is_one_line(tmp_path):
    """Invalid TOML names the file."""
    path = tmp_path / "s.toml"
    path.write_text("[[families]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_structure(path)
    assert [
        f"{path}: invalid TOML: Expected ']]' at the end of an array declaration (at line 1, "
        "column 11)"
    ] == str(caught.value).splitlines()
