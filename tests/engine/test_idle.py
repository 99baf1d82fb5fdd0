"""An idle pass is cheap: the cost of polling a quiet DAM."""

from __future__ import annotations


async def test_idle_pass_costs_one_dam_request_and_no_pim_request(world):
    """A pass with nothing new makes one DAM listing request and no PIM request."""
    await world.runner.run_once()
    await world.reset_stats()

    async def dam_requests() -> int:
        stats = (await world.dam.get("/_sim/stats")).json()["requests"]
        return sum(sum(v.values()) for k, v in stats.items() if "/_sim" not in k)

    before = await dam_requests()
    result = await world.runner.run_once()
    pim = await world.pim_stats()
    assert (0, "succeeded") == (result.written, result.status)
    assert {} == {k: v for k, v in pim["requests"].items() if "/_sim" not in k}
    assert 1 == await dam_requests() - before
