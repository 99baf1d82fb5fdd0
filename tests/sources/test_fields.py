"""Dotted paths into JSON: the fast walk reads exactly what the plain step-by-step walk reads."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.sources.fields import PathMissingError, dig, dig_optional

_ABSENT = object()


def _plain(value: Any, path: str) -> Any:
    """The reference: one step at a time, dicts by key, lists by index."""
    if not path:
        return value
    node = value
    for step in path.split("."):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return _ABSENT
    return node


keys = st.sampled_from(["a", "b", "0", "1", "", "x.y"])
trees = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3)
    ),
    max_leaves=10,
)
paths = st.lists(st.sampled_from(["a", "b", "0", "1", "2", ""]), max_size=4).map(".".join)


@settings(max_examples=400, deadline=None)
@given(trees, paths)
def test_dig_reads_what_the_plain_walk_reads(tree, path):
    """Present paths give their value, absent ones PathMissingError (dig) or None (optional)."""
    expected = _plain(tree, path)
    if expected is _ABSENT:
        with pytest.raises(PathMissingError):
            dig(tree, path)
        assert dig_optional(tree, path) is None
    else:
        assert dig(tree, path) is expected
        assert dig_optional(tree, path) is expected


def test_dict_subclasses_are_read_by_their_keys_only():
    """A defaultdict never invents a missing key (no __missing__ call), as before."""
    tree: defaultdict[str, Any] = defaultdict(dict, {"file": {"url": "u"}})
    assert "u" == dig(tree, "file.url")
    with pytest.raises(PathMissingError):
        dig(tree, "binary.url")
    assert "binary" not in tree
    assert dig_optional(tree, None) is None
    assert dig_optional(tree, "") is tree
