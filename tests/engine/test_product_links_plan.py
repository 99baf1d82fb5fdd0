"""The pure parts of direct product links: collection plans, identifiers, positions, config."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.core.errors import ConfigError
from daemon.core.records import DamAsset
from daemon.engine.product_link_plan import plan_collection
from daemon.engine.product_link_targets import (
    compile_link_rules,
    identifiers_of,
    position_of,
    wants_of,
)
from daemon.engine.product_links import already_linked
from daemon.mapping import load_mapping
from daemon.mapping.paths import ValueProblem
from daemon.mapping.product_link_rules import ProductLinkRule
from daemon.store.product_link_store import LinkTarget, LinkWant, OwnedLink, WantedLink

P = LinkTarget("product", "p1", "pics")


def row(code: str, position: float | None = None, rule: int = 0) -> OwnedLink:
    return OwnedLink(P, code, rule, "f", f"dam_{code}", position)


@pytest.mark.parametrize(
    ("current", "owned", "adds", "removes", "placement", "expected"),
    [
        # add to an empty collection; ours last after foreign ones, or first
        ([], [], ["a"], [], "last", ["a"]),
        (["x", "y"], [], ["a", "b"], [], "last", ["x", "y", "a", "b"]),
        (["x", "y"], [], ["a"], [], "first", ["a", "x", "y"]),
        # foreign codes keep their order; ours move to their side
        (["a", "x", "y"], ["a"], ["b"], [], "last", ["x", "y", "a", "b"]),
        # removal only takes out ours; a foreign code is never dropped
        (["x", "a", "b"], ["a", "b"], [], ["a"], None, ["x", "b"]),
        (["x", "a"], ["a"], [], ["x"], None, ["x", "a"]),
        # an add of a code someone else put there: left where it is, not taken over
        (["x", "a"], [], ["a"], [], "first", ["x", "a"]),
        # a code of ours someone removed is not put back unless asked again
        (["x"], ["a"], ["b"], [], "last", ["x", "b"]),
        (["x"], ["a"], ["a"], [], "last", ["x", "a"]),
        # no placement (unlink only): nothing moves
        (["a", "x", "b"], ["a", "b"], [], ["b"], None, ["a", "x"]),
    ],
)
def test_plan_collection(current, owned, adds, removes, placement, expected):
    plan = plan_collection(
        current,
        [row(c) for c in owned],
        [row(c) for c in adds],
        [row(c) for c in removes],
        placement,
    )
    assert expected == list(plan.data)
    assert (expected != current) is plan.changed


def test_positions_order_ours_then_where_they_stand_then_as_asked():
    """Lower position first, those without one after in their current order, new ones last."""
    owned = [row("a"), row("b", 5.0), row("c")]
    adds = [row("d", 1.0), row("e")]
    plan = plan_collection(["x", "c", "a", "b"], owned, adds, [], "first")
    assert ("d", "b", "c", "a", "e", "x") == plan.data


def test_a_code_two_rules_hold_stays_while_one_rule_holds_it():
    plan = plan_collection(["a"], [row("a", rule=0), row("a", rule=1)], [], [row("a")], None)
    assert (("a",), False) == (plan.data, plan.changed)
    assert [row("a")] == list(plan.removed)


def test_rows_found_gone_are_forgotten():
    plan = plan_collection(["x"], [row("a")], [], [], "last")
    assert [row("a")] == list(plan.removed)
    assert not plan.changed


@pytest.mark.parametrize(
    ("value", "split", "expected"),
    [
        ("p1", None, ["p1"]),
        (["p1", "p2", "p1"], None, ["p1", "p2"]),
        ("p1, p2,,", ",", ["p1", "p2"]),
        (1234, None, ["1234"]),
        (None, None, []),
        ([None, " p3 "], None, ["p3"]),
    ],
)
def test_identifiers_of(value, split, expected):
    assert expected == identifiers_of(value, split)


def test_identifiers_of_refuses_objects():
    with pytest.raises(ValueProblem, match="object"):
        identifiers_of([{"sku": "x"}], None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (True, 0.0), (False, 1.0), (3, 3.0), ("2.5", 2.5), (" 7 ", 7.0)],
)
def test_position_of(value, expected):
    assert expected == position_of(value)


@pytest.mark.parametrize("value", ["main", "", [1], {"a": 1}])
def test_position_of_refuses_anything_else(value):
    with pytest.raises(ValueProblem):
        position_of(value)


def test_wants_of_a_template_and_a_model_rule():
    rules = compile_link_rules(
        [
            ProductLinkRule(
                attribute="pics", identifier_template="{metadata.ref}_x", mode="replace"
            ),
            ProductLinkRule(
                attribute="gallery",
                kind="product_model",
                identifier_path="metadata.model",
                locale="en_US",
                scope="print",
                position_path="metadata.order",
            ),
        ]
    )
    asset = DamAsset("d1", datetime(2026, 1, 1, tzinfo=UTC), metadata={"ref": "r", "order": 2})
    wants, problems = wants_of(asset, "fam", "c1", rules)
    assert [] == problems
    assert [
        LinkWant(
            "d1",
            rules[0].key,
            "fam",
            "c1",
            "replace",
            "last",
            (WantedLink(LinkTarget("product", "r_x", "pics")),),
        ),
        LinkWant("d1", rules[1].key, "fam", "c1", "add", "last", ()),
    ] == wants


def test_satisfied_wants_are_not_staged_again():
    want = LinkWant("dam_a", 0, "f", "a", "replace", "last", (WantedLink(P, 1.0),))
    assert already_linked(want, [row("a", 1.0)])
    assert not already_linked(want, [row("a", 2.0)])  # a new position: the order is redone
    assert not already_linked(want, [])
    other = OwnedLink(LinkTarget("product", "p2", "pics"), "a", 0, "f", "dam_a")
    assert not already_linked(want, [row("a", 1.0), other])  # replace: p2 must be left
    add = LinkWant("dam_a", 0, "f", "a", "add", "last", (WantedLink(P, 1.0),))
    assert already_linked(add, [row("a", 1.0), other])


@pytest.mark.parametrize(
    ("rule", "key", "text"),
    [
        ({"attribute": "pics"}, "", "set exactly one of identifier_path, identifier_template"),
        ({"attribute": "p-x", "identifier_path": "metadata.a"}, ".attribute", "'p-x' is not"),
        ({"attribute": "pics", "identifier_path": "meta.a"}, ".identifier_path", "path 'meta.a'"),
        ({"attribute": "pics", "identifier_path": "metadata.a", "mode": "merge"}, ".mode", "add"),
        ({"attribute": "pics", "identifier_path": "metadata.a", "sku": 1}, ".sku", "Extra inputs"),
    ],
)
def test_bad_rules_are_one_clear_line(rule, key, text):
    with pytest.raises(ConfigError) as caught:
        load_mapping({"families": [{"family": "f", "product_links": [rule]}]}, prefix="m")
    message = str(caught.value)
    assert 1 == len(message.splitlines())
    assert message.startswith(f"m.families[0].product_links[0]{key}: ")
    assert text in message
