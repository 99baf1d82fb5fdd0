"""
A PIM's fair-use budget shared by the replicas writing to it: each one's share is
``max(1, floor(budget / writers))``, recomputed at each heartbeat from the lease owners and the
configured ``source -> pim`` map; alone, the whole budget. One ``pim.budget_shared`` line per
change.
"""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from daemon.engine.replica_leases import SourceOwnership
from daemon.engine.replica_share import PimBudgets, budget_share, pim_writers
from daemon.upstream.throttle import UpstreamLimiter

#: Four sources write PIM "one", one writes PIM "two"; each PIM's budget is 4.
SOURCE_PIMS = {"s1": "one", "s2": "one", "s3": "one", "s4": "one", "s5": "two"}
BUDGET = 4


def shared_lines(logs) -> list[tuple[str, int, int]]:
    return [
        (x["pim"], x["share"], x["replicas"]) for x in logs if x["event"] == "pim.budget_shared"
    ]


class Row:
    def __init__(self, source: str, holder: str | None, state: str = "held") -> None:
        self.source, self.holder, self.state = source, holder, state


def budgets(told: list[tuple[str, int]] | None = None) -> PimBudgets:
    return PimBudgets(
        limiters={"one": UpstreamLimiter(BUDGET), "two": UpstreamLimiter(BUDGET)},
        budgets={"one": BUDGET, "two": BUDGET},
        source_pims=SOURCE_PIMS,
        on_share=None if told is None else (lambda pim, share: told.append((pim, share))),
    )


@pytest.mark.parametrize(
    ("budget", "writers", "share"),
    [(4, 0, 4), (4, 1, 4), (4, 2, 2), (4, 3, 1), (4, 5, 1), (10, 3, 3), (1, 2, 1)],
)
def test_budget_share(budget, writers, share):
    assert share == budget_share(budget, writers)


def test_writers_are_the_live_owners_of_each_pims_sources():
    rows = [
        Row("s1", "a"),
        Row("s2", "b"),
        Row("s3", "dead"),  # its replica is not live any more
        Row("s4", "c", state="expired"),
        Row("s5", None, state="released"),
        Row("unconfigured", "c"),
    ]
    got = pim_writers(SOURCE_PIMS, rows, live={"a", "b", "c", "d"}, me="c", mine=["s5"])
    # "one": a and b, plus one for its free sources s3 and s4 (another may take them)
    assert {"one": 3, "two": 1} == got


def test_a_free_source_counts_one_writer_more_at_most_every_live_replica():
    held = [Row("s1", "a"), Row("s2", "a"), Row("s3", "a"), Row("s5", "b")]
    assert {"one": 2, "two": 1} == pim_writers(SOURCE_PIMS, held, {"a", "b"}, "b", ["s5"])
    held = [Row("s1", "a"), Row("s2", "b"), Row("s3", "a"), Row("s5", "b")]
    assert {"one": 2, "two": 1} == pim_writers(SOURCE_PIMS, held, {"a", "b"}, "b", ["s5"])


def test_unshared_sources_count_every_live_replica_for_every_pim():
    assert {"one": 3, "two": 3} == pim_writers(SOURCE_PIMS, None, {"a", "b"}, "c", [])


def test_a_share_change_sets_the_limiter_logs_one_line_and_tells_the_gauge():
    told: list[tuple[str, int]] = []
    shared = budgets(told)
    with capture_logs() as logs:
        shared.apply({"one": 2, "two": 1})
        shared.apply({"one": 2, "two": 1})  # unchanged: no line
        shared.apply({"one": 3, "two": 0})
    assert {"one": 1, "two": BUDGET} == {p: lim.capacity for p, lim in shared.limiters.items()}
    lines = [
        (x["pim"], x["share"], x["replicas"]) for x in logs if x["event"] == "pim.budget_shared"
    ]
    assert [("one", 2, 2), ("one", 1, 3)] == lines
    assert [("one", 2), ("two", 4), ("one", 1)] == told


pytestmark_pg = pytest.mark.parametrize("url", ["postgresql"], indirect=True)


def replica(store, name: str) -> SourceOwnership:
    ownership = SourceOwnership(store, list(SOURCE_PIMS), name, ttl=30, heartbeat=10, spread=True)
    ownership.use_budgets(budgets())
    return ownership


def capacities(r: SourceOwnership) -> dict[str, int]:
    assert r.budgets is not None
    return {pim: limiter.capacity for pim, limiter in r.budgets.limiters.items()}


async def settle(*replicas: SourceOwnership, rounds: int = 6) -> None:
    for _ in range(rounds):
        for r in replicas:
            await r.tick()


@pytest.mark.postgres
@pytestmark_pg
async def test_two_replicas_writing_one_pim_share_its_budget(store):
    """Both own sources of PIM "one": 2 each; PIM "two" has one writer: its whole budget."""
    a, b = replica(store, "a"), replica(store, "b")
    await a.start()
    await a.tick()
    assert {"one": BUDGET, "two": BUDGET} == capacities(a)  # alone: the whole budget

    await b.start()
    with capture_logs() as logs:
        await settle(a, b)
    assert {2, 3} == {len(a.owned()), len(b.owned())}
    # 3 + 2 of five sources, one of them on PIM "two": both own a source of PIM "one".
    assert {"one": 2, "two": BUDGET} == capacities(a) == capacities(b)
    lines = {
        (x["pim"], x["share"], x["replicas"]) for x in logs if x["event"] == "pim.budget_shared"
    }
    assert {("one", 2, 2)} == lines

    await b.leave()
    with capture_logs() as logs:
        await a.tick()  # b's row is gone: a is alone again, and takes its sources back
    assert {"one": BUDGET, "two": BUDGET} == capacities(a)
    assert [("one", BUDGET, 1)] == shared_lines(logs)


@pytest.mark.postgres
@pytestmark_pg
async def test_a_reloads_new_limiters_get_the_last_share_at_once(store):
    a, b = replica(store, "a"), replica(store, "b")
    await a.start()
    await b.start()
    await settle(a, b)
    fresh = budgets()
    a.use_budgets(fresh)
    assert 2 == fresh.limiters["one"].capacity
