"""daemon.engine.batcher.estimate_size: the same value as the plain recursion."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.core.records import DamAsset
from daemon.engine.batcher import estimate_size

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=30,
)


def _plain_size(value: object) -> int:
    """The size estimate written as the plain recursion it replaces."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return sum(len(str(k)) + 4 + _plain_size(v) for k, v in value.items()) + 2
    if isinstance(value, list | tuple):
        return sum(_plain_size(v) + 1 for v in value) + 2
    return 8


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), json_values, max_size=6))
def test_estimate_equals_the_plain_recursion(metadata):
    """For any parsed-JSON metadata the estimate is 256 plus the plain recursive size."""
    asset = DamAsset("a", datetime(2026, 1, 1, tzinfo=UTC), metadata=metadata)
    assert 256 + _plain_size(metadata) == estimate_size(asset)
