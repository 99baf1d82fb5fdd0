"""
The hostile-input corpus of ``tests/reliability``: every case and the promise it checks.

Four promises (``docs/security.md``):

- **clear error**: the input ends in one error (a failure row, a pass error, a refused
  configuration, an HTTP status) naming what is wrong and where, never a crash or a traceback;
- **nothing lost**: every good record is written, or the cursor stays before it;
- **nothing leaked**: no credential, secret or file outside the hot folder reaches anyone else;
- **bounded memory**: no input grows memory (or time, or connections) past a limit.

Table-driven families declare :class:`Case` tables (an id naming the input, a promise) in the
modules of :data:`FAMILIES`; the earlier hostile tests are listed in :data:`EARLIER`, one
promise per test function. ``python -m tests.reliability.corpus`` prints the count by promise.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pytest

Promise = Literal["clear error", "nothing lost", "nothing leaked", "bounded memory"]
PROMISES: tuple[Promise, ...] = get_args(Promise)
#: The corpus the issue asks for, at the least.
MINIMUM = 60


@dataclass(frozen=True)
class Case:
    """
    One hostile input.

    Args:
        id: Names the input (``ts-far-future``, ``fifo``); the pytest id.
        promise: What the case checks.
        input: What the family feeds (item overrides, bytes, a tree builder, config edits).
        expect: What the family checks (an outcome record of the family).
        marks: pytest marks: ``xfail(strict=True)`` for a known defect not fixed yet.
    """

    id: str
    promise: Promise
    input: Any = None
    expect: Any = None
    marks: tuple[Any, ...] = ()


def params(cases: Sequence[Case]) -> list[Any]:
    """The cases as ``pytest.param``s named by their ids (which must be unique)."""
    ids = [c.id for c in cases]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"corpus ids repeated: {repeated}"
    return [pytest.param(c, id=c.id, marks=c.marks) for c in cases]


#: Table-driven families: module -> the test function that runs its ``CASES``.
FAMILIES: dict[str, str] = {
    "tests.reliability.test_corpus_items": "test_dam_item",
    "tests.reliability.test_corpus_answers": "test_dam_answer",
    "tests.reliability.test_corpus_folder": "test_hot_folder_tree",
    "tests.reliability.test_corpus_config": "test_configuration",
    "tests.reliability.test_corpus_server": "test_http_client",
}

#: The hostile tests written before the tables: (module, test function, promise).
EARLIER: tuple[tuple[str, str, Promise], ...] = (
    ("test_hostile_dam", "test_hostile_records_fail_alone_through_the_engine", "clear error"),
    ("test_hostile_dam", "test_invalid_ids_keep_their_codes_across_passes", "nothing lost"),
    ("test_hostile_dam", "test_html_page_fails_the_pass_and_keeps_the_cursor", "nothing lost"),
    ("test_hostile_input", "test_hostile_records_fail_alone", "clear error"),
    ("test_hostile_input", "test_future_dated_asset_is_written_or_reported", "nothing lost"),
    ("test_hostile_config", "test_bad_key_is_named", "clear error"),
    ("test_hostile_config", "test_missing_pim_section_is_named", "clear error"),
    ("test_hostile_config", "test_invalid_toml_is_a_config_error", "clear error"),
    ("test_hostile_config", "test_missing_file_is_a_config_error", "clear error"),
    ("test_hostile_config", "test_env_override_with_wrong_type_is_named", "clear error"),
    (
        "test_hostile_folder",
        "test_sidecar_linked_out_of_the_folder_leaks_nothing",
        "nothing leaked",
    ),
    (
        "test_hostile_folder",
        "test_sidecar_linked_to_a_busy_file_is_not_silently_skipped",
        "nothing lost",
    ),
    (
        "test_hostile_folder",
        "test_deeply_nested_sidecar_fails_one_asset_not_every_pass",
        "clear error",
    ),
    ("test_hostile_folder", "test_unlistable_folder_deletes_nothing", "nothing lost"),
    ("test_hostile_folder", "test_unusable_spool_fails_the_pass_with_one_line", "clear error"),
    ("test_hostile_folder", "test_binary_over_the_cap_fails_alone", "bounded memory"),
    (
        "test_hostile_folder",
        "test_stalled_writer_half_file_is_replaced_once_finished",
        "nothing lost",
    ),
    (
        "test_endless_paging",
        "test_a_stuck_page_fails_the_pass_and_the_cursor_stays_before_unread_assets",
        "bounded memory",
    ),
    (
        "test_endless_paging",
        "test_an_endless_listing_stops_at_max_pages_keeping_committed_batches",
        "bounded memory",
    ),
    (
        "test_pass_deadline",
        "test_a_slow_dam_ends_the_pass_at_its_deadline_and_the_next_pass_resumes",
        "nothing lost",
    ),
    (
        "test_pass_deadline",
        "test_a_hanging_listing_is_cut_at_the_deadline_after_committing_what_was_read",
        "nothing lost",
    ),
)


def collected(function: Callable[..., Any]) -> int:
    """How many tests pytest collects from ``function`` (its parametrize marks multiplied)."""
    count = 1
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize":
            count *= len(mark.args[1])
    return count


@dataclass(frozen=True)
class Entry:
    """One counted test: where it is, what it is called, what it promises."""

    module: str
    name: str
    promise: Promise


def corpus() -> list[Entry]:
    """Every case of the corpus, earlier tests expanded by their parameters."""
    entries: list[Entry] = []
    for module, function, promise in EARLIER:
        loaded = importlib.import_module(f"tests.reliability.{module}")
        count = collected(getattr(loaded, function))
        entries.extend(Entry(module, f"{function}[{n}]", promise) for n in range(count))
    for module, function in FAMILIES.items():
        loaded = importlib.import_module(module)
        short = module.rsplit(".", 1)[-1]
        entries.extend(
            Entry(short, f"{function}[{case.id}]", case.promise) for case in loaded.CASES
        )
    return entries


def by_promise(entries: Iterable[Entry]) -> Counter[Promise]:
    return Counter(e.promise for e in entries)


def report(entries: Sequence[Entry]) -> str:
    """The count by promise, then every case under its promise."""
    counts = by_promise(entries)
    lines = [f"hostile-input corpus: {len(entries)} cases (at least {MINIMUM} wanted)"]
    lines += [f"  {promise:15} {counts[promise]:3}" for promise in PROMISES]
    for promise in PROMISES:
        lines.append(f"{promise}:")
        lines += [f"  {e.module}::{e.name}" for e in entries if e.promise == promise]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(corpus()))
