"""
Turn bench results (bench/results/latest.json, soak.json) into the tables of
docs/benchmarks.md and the plot docs/benchmarks-throughput-rss.png.

``python -m bench.report`` prints the tables and draws the plot; the prose around them in
docs/benchmarks.md is written by hand from the same numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import ROOT

RESULTS = ROOT / "bench/results"
PLOT = ROOT / "docs/benchmarks-throughput-rss.png"


def _ceiling(mode: str, latency: float) -> float:
    """Fair-use ceiling in assets/s: 4 in flight, 100 assets per PATCH or one upload each."""
    return 4 * 100 / latency if mode == "link" else 4 / latency


def tables(results: dict[str, Any]) -> str:
    """
    Args:
        results: The output of ``python -m bench.run``.

    Returns:
        Markdown tables of the end-to-end workloads.
    """
    latency = float(results["latency"])
    rows = [
        "| mode | N | written | pass s | wall s | assets/s | % of ceiling | PIM req | minimum "
        "| req/asset | x minimum | uploaded KiB | peak RSS MiB | naive assets/s | speed-up "
        "| idle PIM/DAM req | load |",
        "|" + "---|" * 17,
    ]
    for w in results["workloads"]:
        d, idle, naive = w["daemon"], w["idle"], w["naive"]
        ceiling = _ceiling(w["mode"], latency)
        rows.append(
            f"| {w['mode']} | {w['size']:,} | {d['written']:,} | {d['pass_s']:.1f} "
            f"| {d['wall_s']:.1f} | {d['assets_per_s']:.0f} "
            f"| {100 * d['assets_per_s'] / ceiling:.1f} % | {d['pim_requests']:,} "
            f"| {d['minimum_requests']:,} | {d['requests_per_asset']:.3f} "
            f"| {d['ratio_to_minimum']:.3f} | {d['upload_bytes'] / 1024:.0f} "
            f"| {d['peak_rss_mb']:.0f} "
            f"| {naive['assets_per_s'] if naive else '-'} "
            f"| {str(w['speedup']) + 'x' if w['speedup'] else '-'} "
            f"| {idle['pim_requests']}/{idle['dam_requests']} "
            f"| {d['load_before']}->{d['load_after']} |"
        )
    return "\n".join(rows)


def plot(results: dict[str, Any], path: Path = PLOT) -> Path:
    """
    Draw throughput and peak RSS against N, one line per mode.

    Args:
        results: The output of ``python -m bench.run``.
        path: The PNG to write.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode in sorted({w["mode"] for w in results["workloads"]}):
        runs = [w for w in results["workloads"] if w["mode"] == mode]
        sizes = [w["size"] for w in runs]
        left.plot(sizes, [w["daemon"]["assets_per_s"] for w in runs], "o-", label=f"{mode}")
        naive = [(w["size"], w["naive"]["assets_per_s"]) for w in runs if w["naive"]]
        left.plot(
            [n for n, _ in naive], [r for _, r in naive], "x--", label=f"{mode} naive baseline"
        )
        right.plot(sizes, [w["daemon"]["peak_rss_mb"] for w in runs], "o-", label=mode)
    latency = results["latency"]
    left.set(xscale="log", yscale="log", xlabel="changed assets N", ylabel="assets/s")
    left.set_title(f"Throughput ({latency * 1000:.0f} ms per request, 4 in flight)")
    right.set(xscale="log", xlabel="changed assets N", ylabel="MiB")
    right.set_title("Peak RSS of damsync sync --once")
    right.set_ylim(bottom=0)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(results: dict[str, Any]) -> None:
    """
    Print the tables and draw the plot.

    Args:
        results: The output of ``python -m bench.run``.
    """
    print(tables(results))
    print(f"plot: {plot(results)}")


def main() -> int:
    """
    Returns:
        The exit code.
    """
    paths = [Path(p) for p in sys.argv[1:]] or [RESULTS / "latest.json"]
    results = json.loads(paths[0].read_text(encoding="utf-8"))
    for extra in paths[1:]:  # more runs (e.g. media mode run apart): their workloads are added
        results["workloads"] += json.loads(extra.read_text(encoding="utf-8"))["workloads"]
    results["workloads"].sort(key=lambda w: (w["mode"], w["size"]))
    write_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
