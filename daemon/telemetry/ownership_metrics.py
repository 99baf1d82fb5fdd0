"""
Ownership metrics: which sources this replica owns, how fresh its leases are, how many replicas
share the database.

Built once per registry by :func:`ownership_metrics` (a second call returns the same object, so
a runtime rebuilt on the same registry never registers a metric twice). Labels are bounded: the
``source`` label takes configured source names only.

- ``damsync_source_owned{source}``: 1 while this replica owns the source (on a shared
  PostgreSQL database: holds its lease between jobs; unshared, e.g. on SQLite: always 1).
- ``damsync_lease_age_seconds{source}``: seconds since this replica last renewed (or took) the
  lease of a source it owns, read at scrape time; 0 when it owns none. Above
  ``store.lease_ttl`` the lease has expired and another replica may take it over.
- ``damsync_lease_losses_total{source}``: leases this replica found taken over, released or
  rewound under it.
- ``damsync_replicas_live``: replicas whose heartbeat has not expired, this one included.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

_BUILT: weakref.WeakKeyDictionary[CollectorRegistry, OwnershipMetrics]
_BUILT = weakref.WeakKeyDictionary()


class OwnershipMetrics:
    """
    The ownership metrics on one registry; implements the lease keeper's observer.

    Args:
        registry: Where the metrics are registered.
        clock: Monotonic seconds (tests move it).
    """

    def __init__(
        self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._renewed: dict[str, float] = {}
        self.owned_gauge = Gauge(
            "damsync_source_owned",
            "1 while this replica holds the source's lease (owns it).",
            ("source",),
            registry=registry,
        )
        self.lease_age = Gauge(
            "damsync_lease_age_seconds",
            "Seconds since this replica last renewed the source's lease (0: holds none).",
            ("source",),
            registry=registry,
        )
        self.losses = Counter(
            "damsync_lease_losses",
            "Leases this replica found taken over, released or rewound under it.",
            ("source",),
            registry=registry,
        )
        self.replicas_live = Gauge(
            "damsync_replicas_live",
            "Replicas whose heartbeat has not expired on this database, this one included.",
            registry=registry,
        )

    def register_sources(self, sources: Iterable[str]) -> None:
        """Show every source at 0 (not owned) before the first heartbeat."""
        for source in sources:
            self.owned_gauge.labels(source)
            self.losses.labels(source)
            self.lease_age.labels(source).set_function(self._age(source))

    def _age(self, source: str) -> Callable[[], float]:
        def age() -> float:
            renewed = self._renewed.get(source)
            return 0.0 if renewed is None else max(0.0, self._clock() - renewed)

        return age

    def lease_renewed(self, source: str) -> None:
        """This replica took or renewed ``source``'s lease just now."""
        if source not in self._renewed:
            self.register_sources([source])
        self._renewed[source] = self._clock()

    def source_owned(self, source: str, owned: bool) -> None:
        """This replica now owns ``source`` (keeps its lease between jobs), or no longer does."""
        self.register_sources([source])
        self.owned_gauge.labels(source).set(1 if owned else 0)
        if not owned:
            self._renewed.pop(source, None)

    def lease_lost(self, source: str) -> None:
        """A lease of this replica was taken over, released or rewound under it."""
        self.losses.labels(source).inc()
        self._renewed.pop(source, None)

    def replicas_seen(self, live: int) -> None:
        """The last heartbeat saw ``live`` replicas."""
        self.replicas_live.set(live)


def ownership_metrics(registry: CollectorRegistry) -> OwnershipMetrics:
    """The ownership metrics of ``registry``, built on the first call."""
    built = _BUILT.get(registry)
    if built is None:
        built = _BUILT[registry] = OwnershipMetrics(registry)
    return built


__all__ = ["OwnershipMetrics", "ownership_metrics"]
