"""
State of the DAM simulator: seeded assets, the sorted change index and the mutation clock.

Each asset is a compact record (numbers and flags); its metadata and binary are generated on
demand from (seed, asset number, version), so 100 000 assets stay cheap. Two sorted lists of
integer keys ``(updated_us << 24) | number`` (all records, and live records only) make
``updated_at`` windows and keyset pages a ``bisect`` away. Nothing here knows about HTTP.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from daemon.core.errors import ConfigError
from daemon.sim.dam.binaries import FileKind
from daemon.sim.dam.metadata import generate_metadata
from daemon.sim.dam.renditions import localized_files
from daemon.sim.dam.stamps import MAX_ASSETS, asset_id, format_micro, from_us, parse_asset_id, to_us

NUM_BITS = 24  # asset numbers live in the low bits of an index key
NUM_MASK = (1 << NUM_BITS) - 1


@dataclass(frozen=True, slots=True)
class DamSimOptions:
    """
    Settings of one simulated DAM (see docs/dam-simulator.md).
    """

    assets: int = 1000
    seed: int = 7
    tick_interval: float | None = None
    changes_per_tick: int = 10
    adds_per_tick: int = 2
    deletes_per_tick: int = 1
    same_timestamp_burst: int = 3
    latency: float = 0.0
    fault_rate: float = 0.0
    rng_seed: int = 0
    base_url: str = "http://localhost"
    token: str = field(default="demo-token", repr=False)
    api_key: str = field(default="demo-key", repr=False)
    username: str = "demo"
    password: str = field(default="demo", repr=False)
    client_id: str = "demo"
    client_secret: str = field(default="demo", repr=False)
    cloud_name: str = "demo"
    history_days: float = 30.0
    localized_files: bool = False  # manuals per locale, renditions per channel (renditions.py)

    def __post_init__(self) -> None:
        counts = {
            "assets": self.assets,
            "changes_per_tick": self.changes_per_tick,
            "adds_per_tick": self.adds_per_tick,
            "deletes_per_tick": self.deletes_per_tick,
            "same_timestamp_burst": self.same_timestamp_burst,
        }
        for key, value in counts.items():
            if value < 0:
                raise ConfigError(f"must be >= 0, got {value}", key=f"dam_sim.{key}")
        if self.assets > MAX_ASSETS:
            raise ConfigError(f"must be <= {MAX_ASSETS}, got {self.assets}", key="dam_sim.assets")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ConfigError(f"must be in [0, 1], got {self.fault_rate}", key="dam_sim.fault_rate")
        if self.latency < 0:
            raise ConfigError(f"must be >= 0, got {self.latency}", key="dam_sim.latency")
        if self.tick_interval is not None and self.tick_interval <= 0:
            raise ConfigError("must be > 0 or None", key="dam_sim.tick_interval")
        if self.history_days <= 0:
            raise ConfigError("must be > 0", key="dam_sim.history_days")


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """
    One asset as the DAM stores it: numbers only, metadata is derived from them.
    """

    num: int
    kind: FileKind
    version: int
    file_version: int
    created_us: int
    uploaded_us: int
    updated_us: int
    deleted: bool = False
    metadata_override: Mapping[str, Any] | None = None

    @property
    def id(self) -> str:
        """
        Returns:
            The public id, e.g. ``a-000123``.
        """
        return asset_id(self.num)


@dataclass(frozen=True, slots=True)
class TickResult:
    """
    What one mutation tick did, by asset id.
    """

    tick: int
    changed: list[str]
    added: list[str]
    deleted: list[str]
    burst_updated_at: str | None


def key_of(record: AssetRecord) -> int:
    """
    Args:
        record: an asset.

    Returns:
        Its sort key in the ``updated_at`` indexes: (updated_at, number) packed in one int.
    """
    return (record.updated_us << NUM_BITS) | record.num


class DamStore:
    """
    The simulated DAM's database: records by number plus the sorted ``updated_at`` indexes.

    Args:
        options: sizes, seed and per-tick counts.
        now_us: the DAM's clock at creation; initial assets are spread over the
            ``history_days`` before it.
    """

    def __init__(self, options: DamSimOptions, now_us: int) -> None:
        self.seed = options.seed
        self._options = options
        self.records: list[AssetRecord] = []
        self.by_time: list[int] = []
        self.by_time_live: list[int] = []
        self.removed: list[int] = []
        self.tick_count = 0
        self.last_stamp_us = now_us
        self.listeners: list[Callable[[AssetRecord | None, AssetRecord], None]] = []  # on change
        self._generate(options.assets, now_us)

    def _generate(self, count: int, now_us: int) -> None:
        rng = random.Random(f"{self.seed}:initial")
        span = int(self._options.history_days * 86_400 * 1_000_000)
        start = now_us - span
        previous_updated = start
        kinds: list[FileKind] = ["png", "jpeg", "pdf"]
        for num in range(1, count + 1):
            created = start + (span // 2) * num // (count + 1)
            if num > 1 and rng.random() < 0.05:
                updated = max(created, previous_updated)  # bulk imports share a stamp
            else:
                updated = created + rng.randrange(max(1, now_us - 1_000_000 - created))
            previous_updated = updated
            kind = rng.choices(kinds, weights=(5, 3, 2))[0]
            self.records.append(AssetRecord(num, kind, 1, 1, created, updated, updated))
        self.by_time = sorted(key_of(record) for record in self.records)
        self.by_time_live = list(self.by_time)

    def get(self, num: int) -> AssetRecord | None:
        """
        Args:
            num: an asset number.

        Returns:
            The record (deleted ones included), or ``None`` when unknown.
        """
        return self.records[num - 1] if 0 < num <= len(self.records) else None

    def metadata(self, record: AssetRecord) -> dict[str, Any]:
        """
        Args:
            record: an asset.

        Returns:
            Its current metadata: generated from (seed, number, version), then overridden.
        """
        generated = self._own_metadata(record)
        if self._options.localized_files and not record.deleted:
            files = localized_files(self.seed, record.num, record.kind, record.file_version)
            for key, value in files.items():
                generated.setdefault(key, value)  # a test's own files win
        return generated

    def _own_metadata(self, record: AssetRecord) -> dict[str, Any]:
        """The metadata generated and overridden, without the files derived from the record."""
        generated = generate_metadata(self.seed, record.num, record.version, record.kind)
        if record.metadata_override:
            generated.update(record.metadata_override)
        return generated

    def _store(self, old: AssetRecord | None, new: AssetRecord) -> None:
        if old is not None:
            old_key = key_of(old)
            del self.by_time[bisect_left(self.by_time, old_key)]
            if not old.deleted:
                del self.by_time_live[bisect_left(self.by_time_live, old_key)]
            self.records[new.num - 1] = new
        else:
            self.records.append(new)
        insort(self.by_time, key_of(new))
        if not new.deleted:
            insort(self.by_time_live, key_of(new))
        if new.deleted and (old is None or not old.deleted):
            self.removed.append(new.num)
        for listener in self.listeners:  # the event feed: every add, change and delete
            listener(old, new)

    def next_stamp(self, now_us: int, needed: int = 1) -> int:
        """
        Args:
            now_us: the DAM's clock.
            needed: how many consecutive stamps the caller is about to use.

        Returns:
            The first stamp to use: close to now, always after every stamp handed out before.
        """
        return max(now_us - needed, self.last_stamp_us + 1)

    def tick(self, now_us: int) -> TickResult:
        """
        Change, add and delete assets as one burst of DAM activity.

        The first ``same_timestamp_burst`` events share one ``updated_at``; the others get
        consecutive microseconds after it.

        Args:
            now_us: the DAM's clock.

        Returns:
            Which ids changed, appeared and were deleted.
        """
        self.tick_count += 1
        opts = self._options
        rng = random.Random(f"{self.seed}:tick:{self.tick_count}")
        live = len(self.by_time_live)
        picks = rng.sample(range(live), min(live, opts.changes_per_tick + opts.deletes_per_tick))
        picked = [self.by_time_live[i] & NUM_MASK for i in picks]
        deletes = picked[opts.changes_per_tick :]
        changes = picked[: opts.changes_per_tick]
        room = MAX_ASSETS - len(self.records)
        adds = list(
            range(len(self.records) + 1, len(self.records) + 1 + min(room, opts.adds_per_tick))
        )
        events = [("change", n) for n in changes] + [("add", n) for n in adds]
        events += [("delete", n) for n in deletes]
        rng.shuffle(events)
        first = self.next_stamp(now_us, len(events))
        burst = max(1, opts.same_timestamp_burst)
        result = TickResult(self.tick_count, [], [], [], None)
        stamped = [
            (what, num, first + max(0, position - burst + 1))
            for position, (what, num) in enumerate(events)
        ]
        # New records must be appended in number order, whatever their stamps.
        stamped.sort(key=lambda event: (event[0] != "add", event[1]))
        for what, num, stamp in stamped:
            self._apply_event(what, num, stamp, rng)
            self.last_stamp_us = max(self.last_stamp_us, stamp)
        result.changed.extend(asset_id(n) for n in changes)
        result.added.extend(asset_id(n) for n in adds)
        result.deleted.extend(asset_id(n) for n in deletes)
        if len(events) >= 2 and opts.same_timestamp_burst >= 2:
            result = replace(result, burst_updated_at=format_micro(from_us(first)))
        return result

    def _apply_event(self, what: str, num: int, stamp: int, rng: random.Random) -> None:
        if what == "add":
            kinds: list[FileKind] = ["png", "jpeg", "pdf"]
            kind = rng.choices(kinds, weights=(5, 3, 2))[0]
            self._store(None, AssetRecord(num, kind, 1, 1, stamp, stamp, stamp))
            return
        old = self.records[num - 1]
        if what == "delete":
            self._store(old, replace(old, deleted=True, updated_us=stamp))
            return
        new_file = rng.random() < 0.5  # half the edits touch metadata only
        self._store(
            old,
            replace(
                old,
                version=old.version + 1,
                file_version=old.file_version + (1 if new_file else 0),
                uploaded_us=stamp if new_file else old.uploaded_us,
                updated_us=stamp,
                metadata_override=None,
            ),
        )

    def mutate(
        self,
        num: int,
        now_us: int,
        *,
        metadata: Mapping[str, Any] | None = None,
        deleted: bool | None = None,
        updated_us: int | None = None,
        new_file: bool = False,
    ) -> AssetRecord:
        """
        Set one existing asset exactly (a test's tool for building edge cases).

        Args:
            num: the asset number; must exist.
            now_us: the DAM's clock, used when ``updated_us`` is not given.
            metadata: top-level keys merged over the current metadata (a new version).
            deleted: ``True`` deletes (tombstone), ``False`` restores.
            updated_us: the exact ``updated_at`` to set, even in the past.
            new_file: give the asset a new binary version too.

        Returns:
            The stored record.
        """
        old = self.records[num - 1]
        stamp = updated_us if updated_us is not None else self.next_stamp(now_us)
        self.last_stamp_us = max(self.last_stamp_us, stamp)
        override = old.metadata_override
        version = old.version
        if metadata is not None:
            override = {**self._own_metadata(old), **metadata}
            version += 1
        new = replace(
            old,
            version=version + (1 if new_file and metadata is None else 0),
            file_version=old.file_version + (1 if new_file else 0),
            uploaded_us=stamp if new_file else old.uploaded_us,
            updated_us=stamp,
            deleted=old.deleted if deleted is None else deleted,
            metadata_override=override,
        )
        self._store(old, new)
        return new


__all__ = [
    "MAX_ASSETS",
    "NUM_BITS",
    "NUM_MASK",
    "AssetRecord",
    "DamSimOptions",
    "DamStore",
    "TickResult",
    "asset_id",
    "format_micro",
    "from_us",
    "key_of",
    "parse_asset_id",
    "to_us",
]
