"""
Benchmark of one asset's CPU in link mode, on the read and mapping side: microseconds per asset.

Run ``.venv/bin/python -m bench.link_path_bench``. It reads DAM simulator items (the generic
shape, with the simulator's own metadata) as ``sources/rest_items.parse_item`` does, routes
them (``Mapper.identify``), maps them with ``bench/harness.py``'s link mapping
(``Mapper.map_asset``: values and content hash) and builds their PIM bodies
(``PimAsset.to_json``), and prints the best and median process CPU time per asset of each
stage and of the whole, over interleaved rounds, with the load average.
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.harness import LINK_MAPPING
from bench.mapping_bench import _families as bench_families
from daemon.core.records import AssetFamily, Channel, DamAsset
from daemon.mapping import AssetKey, MappedAsset, Mapper, load_mapping
from daemon.settings.dam_sources import FieldPaths
from daemon.sim.dam.metadata import generate_metadata
from daemon.sources.rest_items import parse_item

PATHS = FieldPaths.model_validate(
    {
        "id": "id",
        "updated_at": "updated_at",
        "deleted": {"path": "deleted"},
        "binary_url": "file.url",
        "filename": "file.filename",
        "mime_type": "file.mime_type",
        "size": "file.size",
        "checksum": "file.sha256",
        "metadata": "metadata",
    }
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def _item(number: int) -> dict[str, Any]:
    """One item as ``GET /generic/assets`` answers it."""
    when = START + timedelta(milliseconds=number)
    return {
        "id": f"a-{number:06d}",
        "updated_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "deleted": False,
        "type": "image",
        "version": 1,
        "file": {
            "url": f"http://127.0.0.1:8082/generic/files/{number:08d}/1/image.png",
            "filename": f"asset-{number:08d}.png",
            "mime_type": "image/png",
            "size": 2048 + number % 977,
            "sha256": f"{number:064x}",
        },
        "metadata": generate_metadata(7, number, 1, "png"),
    }


def _families() -> dict[str, AssetFamily]:
    """mapping_bench's families, with the PIM simulator's media link and options."""
    families = bench_families()
    packshots = families["packshots"]
    attrs = dict(packshots.attributes)
    attrs["dam_url"] = replace(attrs["dam_url"], prefix="", media_type="other")
    options = {
        "tags": frozenset({"summer", "winter", "outdoor", "studio"}),
        "colour": frozenset({"red", "blue", "black", "white"}),
    }
    return {**families, "packshots": replace(packshots, attributes=attrs, options=options)}


def _mapper() -> Mapper:
    text = LINK_MAPPING.replace("[sources.mapping", "[mapping")
    rules = load_mapping(tomllib.loads(text)["mapping"])
    return Mapper(rules, _families(), [Channel("ecommerce", ("en_US", "fr_FR", "de_DE"))])


def _timed(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> int:
    """
    Print microseconds per asset for each stage.

    Returns:
        The exit code.
    """
    mapper = _mapper()
    page = orjson.dumps([_item(n) for n in range(1000)])
    raws: list[dict[str, Any]] = orjson.loads(page)
    chunks = [raws[i : i + 100] for i in range(0, len(raws), 100)]
    assets: list[list[DamAsset]] = [[] for _ in chunks]
    keys: list[list[AssetKey]] = [[] for _ in chunks]
    mapped: list[list[MappedAsset]] = [[] for _ in chunks]

    def parse(i: int) -> None:
        assets[i] = [parse_item(r, PATHS, source="bench", download=False) for r in chunks[i]]

    def identify(i: int) -> None:
        keys[i] = [mapper.identify(a) for a in assets[i]]  # type: ignore[misc]

    def map_(i: int) -> None:
        mapped[i] = [mapper.map_asset(a, k) for a, k in zip(assets[i], keys[i], strict=True)]  # type: ignore[misc]

    def body(i: int) -> None:
        for m in mapped[i]:
            m.asset.to_json()

    stages: dict[str, Callable[[int], None]] = {
        "parse_item": parse,
        "identify": identify,
        "map_asset": map_,
        "to_json": body,
    }
    for i in range(len(chunks)):  # warm-up, and a check that every asset maps
        for stage in stages.values():
            stage(i)
        failed = [m for m in mapped[i] if not isinstance(m, MappedAsset)]
        if failed:
            print("mapping failed:", failed[0], file=sys.stderr)
            return 1
    print("loadavg:", Path("/proc/loadavg").read_text(encoding="utf-8").strip())
    rounds: dict[str, list[float]] = {name: [] for name in [*stages, "total"]}
    for _ in range(20):
        for i, chunk in enumerate(chunks):
            total = 0.0
            for name, stage in stages.items():
                spent = _timed(lambda s=stage, i=i: s(i))  # type: ignore[misc]
                rounds[name].append(spent / len(chunk) * 1e6)
                total += spent
            rounds["total"].append(total / len(chunk) * 1e6)
    for name, times in rounds.items():
        times.sort()
        best, median = times[0], times[len(times) // 2]
        print(f"{name:>10}: {best:6.1f} us/asset best, {median:6.1f} us/asset median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
