"""bench.cpu_split: a pass's CPU split into fixed cost, store and the rest."""

from __future__ import annotations

import json

import pytest

from bench import cpu_split


@pytest.mark.slow
def test_a_pass_is_split_into_fixed_store_and_rest(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == cpu_split.main(["--assets", "250"])
    line = json.loads(capsys.readouterr().out)
    assert (line["mode"], line["assets"], line["exit_codes"]) == ("link", 250, [0, 0])
    parts = line["us_per_asset"]
    assert min(parts["whole"], parts["fixed (idle pass)"], parts["store"]) > 0
    # The parts add up to the whole (each rounded to 0.1 us).
    total = parts["fixed (idle pass)"] + parts["store"] + parts["rest"]
    assert abs(parts["whole"] - total) <= 0.2
    # Three batches of 100 at most: each claimed, written and committed once.
    calls = line["store_calls"]
    assert (calls["prepare_batch"], calls["commit_batch"]) == (3, 3)
    assert sum(line["store_us_per_asset"].values()) == pytest.approx(parts["store"], abs=2.0)
