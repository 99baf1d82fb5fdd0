"""bench.cpu_pass: one zero-latency pass, its CPU and page faults from wait4."""

from __future__ import annotations

import json

import pytest

from bench import cpu_pass


@pytest.mark.slow
def test_one_pass_reports_its_cpu_per_asset_and_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == cpu_pass.main(["--assets", "40", "--daemon-env", "MALLOC_TRIM_THRESHOLD_=1048576"])
    line = json.loads(capsys.readouterr().out)
    assert (line["mode"], line["assets"], line["exit_code"]) == ("link", 40, 0)
    assert line["cpu_s"] > 0
    # cpu_s is rounded to 10 ms: the per-asset figure agrees within that.
    assert abs(line["cpu_us_per_asset"] - line["cpu_s"] / 40 * 1e6) <= 0.01 / 40 * 1e6
    assert line["minor_faults"] > 0
    assert line["peak_rss_mb"] > 10
