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


def _idle(idle: dict[str, Any] | None, *, check: bool = False) -> str:
    if not idle:
        return "-"
    text = f"{idle['pim_requests']}/{idle['dam_requests']}"
    if check:  # issue 16: 1 DAM request, 0 PIM
        text += " ok" if (idle["pim_requests"], idle["dam_requests"]) == (0, 1) else " FAIL"
    return text


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def tables(results: dict[str, Any]) -> str:
    """
    Args:
        results: The output of ``python -m bench.run`` (older files lack the floor, the idle
            ``sync --once``, the CPU per asset and the database size: shown as ``-``).

    Returns:
        Markdown tables of the end-to-end workloads: throughput, then requests and resources.
    """
    latency = float(results["latency"])
    speed = [
        "| mode | N | written | pass s | assets/s | % of ceiling | floor assets/s "
        "| share of floor | daemon CPU us/asset | floor CPU us/asset | sims CPU s (PIM/DAM) "
        "| naive assets/s | speed-up | load |",
        "|" + "---|" * 14,
    ]
    cost = [
        "| mode | N | PIM req | minimum | req/asset | x minimum | uploaded KiB | peak RSS MiB "
        "| DB bytes/asset | idle PIM/DAM req | idle sync --once PIM/DAM req | load |",
        "|" + "---|" * 12,
    ]
    for w in results["workloads"]:
        d, naive, floor = w["daemon"], w["naive"], w.get("floor")
        ceiling = _ceiling(w["mode"], latency)
        cpu_us = d.get("cpu_us_per_asset") or (
            1e6 * d["cpu_s"] / d["written"] if d["written"] else None
        )
        sims = w.get("sims_cpu_s") or {}
        share = w.get("share_of_floor")
        load = f"{d['load_before']}->{d['load_after']}"
        speed.append(
            f"| {w['mode']} | {w['size']:,} | {d['written']:,} | {d['pass_s']:.1f} "
            f"| {d['assets_per_s']:.0f} | {100 * d['assets_per_s'] / ceiling:.1f} % "
            f"| {_num(floor['assets_per_s'] if floor else None, ',.0f')} "
            f"| {_num(100 * share if share is not None else None, '.0f')}{' %' if share else ''} "
            f"| {_num(cpu_us, ',.0f')} "
            f"| {_num(floor['cpu_us_per_asset'] if floor else None, ',.1f')} "
            f"| {_num(sims.get('pim'), '.1f')}/{_num(sims.get('dam'), '.1f')} "
            f"| {naive['assets_per_s'] if naive else '-'} "
            f"| {str(w['speedup']) + 'x' if w['speedup'] else '-'} | {load} |"
        )
        db = (w.get("state_db") or {}).get("bytes_per_asset")
        cost.append(
            f"| {w['mode']} | {w['size']:,} | {d['pim_requests']:,} | {d['minimum_requests']:,} "
            f"| {d['requests_per_asset']:.3f} | {d['ratio_to_minimum']:.3f} "
            f"| {d['upload_bytes'] / 1024:.0f} | {d['peak_rss_mb']:.0f} | {_num(db, ',.0f')} "
            f"| {_idle(w['idle'])} | {_idle(w.get('idle_once'), check=True)} | {load} |"
        )
    return "\n".join(speed) + "\n\n" + "\n".join(cost)


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
