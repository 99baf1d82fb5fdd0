"""
The hostile-input corpus is as large as the issue asks, and every case names its promise.

``pytest -s`` (or ``python -m tests.reliability.corpus``) prints the count by promise.
"""

from __future__ import annotations

import importlib
import inspect

from tests.reliability.corpus import (
    EARLIER,
    FAMILIES,
    MINIMUM,
    PROMISES,
    by_promise,
    collected,
    corpus,
    report,
)


def test_the_corpus_has_enough_cases_for_every_promise():
    """At least 60 cases in all, and at least five for each of the four promises."""
    entries = corpus()
    print(report(entries))
    counts = by_promise(entries)
    assert (True, []) == (len(entries) >= MINIMUM, [p for p in PROMISES if counts[p] < 5]), report(
        entries
    )


def test_every_family_runs_its_whole_table():
    """Each family's test is parametrized by exactly its CASES (no case defined but not run)."""
    for module, function in FAMILIES.items():
        loaded = importlib.import_module(module)
        assert (module, len(loaded.CASES)) == (module, collected(getattr(loaded, function)))


def test_every_hostile_test_names_its_promise():
    """Every test function of the corpus modules is a family's table or listed in EARLIER."""
    listed = {(f"tests.reliability.{module}", function) for module, function, _ in EARLIER}
    listed |= set(FAMILIES.items())
    modules = {module for module, _ in listed}
    found = set()
    for module in modules:
        loaded = importlib.import_module(module)
        found |= {
            (module, name)
            for name, _ in inspect.getmembers(loaded, inspect.isfunction)
            if name.startswith("test_")
        }
    assert set() == found - listed
    assert set() == listed - found
