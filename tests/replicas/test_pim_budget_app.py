"""
The wired app under a shared budget: a replica whose share of a PIM is 2 keeps to 2 requests in
flight at the PIM simulator, exports the share as ``damsync_pim_requests_in_flight_limit{pim}``,
and its passes' log lines carry ``pim``.
"""

from __future__ import annotations

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from tests.service.test_pim_per_source import (
    EXAMPLE,
    _build,
    _sims,
    run_all,
    second_source,
    settings_of,
    with_pims,
)

__all__ = ["_build", "_sims"]  # the fixtures `build` and `sims`


async def test_a_replicas_share_holds_at_the_pim_and_is_exported(tmp_path, sims, build):
    sims.add_pim("one")
    text = second_source(EXAMPLE, name="second", pim=None, code_prefix="b_")
    app = await build(settings_of(tmp_path, text), {"default": "one"})
    registry = app.services.registry
    limit = "damsync_pim_requests_in_flight_limit"
    assert 4 == registry.get_sample_value(limit, {"pim": "default"})

    budgets = app.pim_budgets()
    assert {"demo": "default", "second": "default"} == dict(budgets.source_pims)
    budgets.apply({"default": 2})  # another live replica writes this PIM too

    assert 2 == registry.get_sample_value(limit, {"pim": "default"})
    results = await run_all(app)
    assert ["succeeded", "succeeded"] == [r.status for r in results], [r.error for r in results]
    counter = sims.counters["one"]
    assert counter.both_peak > 0  # both passes overlapped at the PIM...
    assert counter.peak <= 2  # ...within this replica's share
    assert (await sims.stats("one"))["max_in_flight"] <= 2

    budgets.apply({"default": 1})  # alone again
    assert 4 == registry.get_sample_value(limit, {"pim": "default"})
    assert 4 == app.pim_of("demo").upstream.limiter.capacity


async def test_a_passs_log_lines_carry_its_pim(tmp_path, sims, build):
    sims.add_pim("one")
    sims.add_pim("eu")
    text = with_pims(second_source(EXAMPLE, name="second", pim="eu", code_prefix="b_"), "eu")
    app = await build(settings_of(tmp_path, text), {"default": "one", "eu": "eu"})

    with capture_logs(processors=[merge_contextvars]) as logs:
        results = await run_all(app)

    assert ["succeeded", "succeeded"] == [r.status for r in results], [r.error for r in results]
    finished = {x["source"]: x.get("pim") for x in logs if x["event"] == "sync.pass_finished"}
    assert {"demo": "default", "second": "eu"} == finished
    bound = [x for x in logs if "source" in x and "run_id" in x]
    assert bound
    assert all(x.get("pim") == {"demo": "default", "second": "eu"}[x["source"]] for x in bound)
