"""
``[replicas]``: several ``damsync run`` processes on one PostgreSQL database.

The lease itself is ``store.lease_ttl`` (its expiry on the database clock): the time a dead
replica's sources wait before another replica takes them over. These keys say how often a
replica renews its leases and announces itself, and whether it shares the sources out.
Documented in ``docs/configuration.md`` and ``docs/deployment.md``.
"""

from __future__ import annotations

from pydantic import Field, FiniteFloat

from daemon.core.config_model import MAX_SECONDS, Model

#: The heartbeat when none is set: this share of the lease's lifetime, so two renewals can fail
#: before the lease expires.
HEARTBEAT_SHARE = 1 / 3


class ReplicaSettings(Model):
    """How replicas keep their leases and share the sources (``[replicas]``)."""

    heartbeat: FiniteFloat | None = Field(
        None,
        gt=0,
        le=MAX_SECONDS,
        description="seconds between lease renewals and replica heartbeats; "
        "default and maximum: a third of store.lease_ttl",
    )
    spread: bool = Field(
        True,
        description="PostgreSQL: keep each source's lease between passes and share the sources "
        "out over the live replicas; false: take the lease for each job only",
    )

    def heartbeat_for(self, lease_ttl: float) -> float:
        """The heartbeat in seconds for a lease of ``lease_ttl``: never above a third of it."""
        ceiling = lease_ttl * HEARTBEAT_SHARE
        return ceiling if self.heartbeat is None else min(self.heartbeat, ceiling)


__all__ = ["HEARTBEAT_SHARE", "ReplicaSettings"]
