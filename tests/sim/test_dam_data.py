"""The DAM simulator's store: seeded generation, mutation ticks, tombstones and exact mutations."""

from __future__ import annotations

import pytest

from daemon.core.errors import ConfigError
from daemon.sim.dam.dataset import NUM_MASK, DamSimOptions, DamStore, key_of, to_us
from daemon.sim.dam.metadata import LOCALES, generate_metadata
from tests.sim.test_dam_helpers import START

NOW = to_us(START)


def _snapshot(store: DamStore) -> list[tuple[object, ...]]:
    return [
        (r.num, r.kind, r.version, r.file_version, r.updated_us, r.deleted) for r in store.records
    ]


def _assert_indexes_consistent(store: DamStore) -> None:
    assert sorted(key_of(r) for r in store.records) == store.by_time
    assert sorted(key_of(r) for r in store.records if not r.deleted) == store.by_time_live


def test_generation_is_deterministic_per_seed():
    """Two stores from the same seed and clock are identical; another seed differs."""
    first = DamStore(DamSimOptions(assets=200, seed=7), NOW)
    second = DamStore(DamSimOptions(assets=200, seed=7), NOW)
    other = DamStore(DamSimOptions(assets=200, seed=8), NOW)
    assert _snapshot(first) == _snapshot(second)
    assert _snapshot(first) != _snapshot(other)
    assert first.metadata(first.records[5]) == second.metadata(second.records[5])


def test_metadata_is_localized_and_complete():
    """Generated metadata has every contract key and titles in en_US, fr_FR and de_DE."""
    meta = generate_metadata(7, 12, 1, "png")
    expected_keys = {
        "title",
        "description",
        "tags",
        "sku",
        "product_skus",
        "colour",
        "photographer",
        "width",
        "height",
        "published",
        "folder",
    }
    assert expected_keys == set(meta)
    assert set(LOCALES) == set(meta["title"]) == set(meta["description"])
    assert meta["sku"] == meta["product_skus"][0]
    assert meta != generate_metadata(7, 12, 2, "png")


def test_tick_changes_adds_deletes_with_an_equal_timestamp_burst():
    """A tick changes, adds and deletes the configured counts; the burst shares one updated_at."""
    options = DamSimOptions(assets=100, changes_per_tick=6, adds_per_tick=2, deletes_per_tick=2)
    store = DamStore(options, NOW)
    result = store.tick(NOW + 1_000_000)
    assert (6, 2, 2) == (len(result.changed), len(result.added), len(result.deleted))
    touched = {int(i[2:]) for i in result.changed + result.added + result.deleted}
    stamps = [store.records[n - 1].updated_us for n in touched]
    assert 3 == max(stamps.count(s) for s in stamps)
    assert ["a-000101", "a-000102"] == result.added
    for asset in result.deleted:
        record = store.records[int(asset[2:]) - 1]
        assert record.deleted
    _assert_indexes_consistent(store)


def test_ticks_are_deterministic_and_stamps_only_move_forward():
    """The same seed gives the same ticks; every tick stamps after everything stamped before."""
    first = DamStore(DamSimOptions(assets=100), NOW)
    second = DamStore(DamSimOptions(assets=100), NOW)
    for step in range(5):
        before = max(first.by_time) >> 24
        assert first.tick(NOW) == second.tick(NOW)
        changed = [first.records[(k & NUM_MASK) - 1] for k in first.by_time[-13:]]
        assert all(r.updated_us > before for r in changed), step
    assert _snapshot(first) == _snapshot(second)
    _assert_indexes_consistent(first)


def test_mutate_sets_exact_state():
    """mutate() sets metadata, deletion and the exact updated_at, even in the past."""
    store = DamStore(DamSimOptions(assets=10), NOW)
    record = store.mutate(3, NOW, metadata={"colour": "purple"}, updated_us=NOW - 5)
    assert (2, NOW - 5, "purple") == (
        record.version,
        record.updated_us,
        store.metadata(record)["colour"],
    )
    gone = store.mutate(3, NOW, deleted=True, updated_us=NOW)
    assert gone.deleted
    assert 3 in store.removed
    back = store.mutate(3, NOW, deleted=False, new_file=True)
    assert (False, 2) == (back.deleted, back.file_version)
    _assert_indexes_consistent(store)


@pytest.mark.parametrize(
    ("field", "value"),
    [("assets", -1), ("fault_rate", 1.5), ("latency", -0.1), ("tick_interval", 0.0)],
)
def test_bad_options_name_the_key(field, value):
    """Invalid options raise ConfigError naming the option."""
    with pytest.raises(ConfigError) as caught:
        DamSimOptions(**{field: value})
    assert f"dam_sim.{field}" == caught.value.key


def test_options_repr_hides_secrets():
    """The options' repr shows no token, API key, password or client secret."""
    text = repr(DamSimOptions(token="t0k3n", api_key="k3y", password="pw0rd", client_secret="s3c"))
    assert not any(secret in text for secret in ("t0k3n", "k3y", "pw0rd", "s3c"))
