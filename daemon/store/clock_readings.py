"""
:class:`ClockReadingAccess`: the DAM's clock as a source's last listing answer told it.

One row per source: the DAM's time in that answer, the reader's monotonic clock when it arrived
and the reader host's boot id. A later process on the same host and boot adds the monotonic time
elapsed since, as the REST source does inside one process with its clock anchor; the rules
(and why no asset can be skipped) are :mod:`daemon.engine.clock_memory`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import upsert
from daemon.store.tables import dam_clock_readings


@dataclass(frozen=True, slots=True)
class DamClockReading:
    """
    The DAM's time at one moment of the reader's monotonic clock.

    Args:
        dam_time: The DAM's time (aware UTC), never later than its true time at ``monotonic``.
        monotonic: The reader's monotonic clock then.
        boot_id: The reader host's boot (its monotonic clock counts from that boot).
    """

    dam_time: datetime
    monotonic: float
    boot_id: str


class ClockReadingAccess(SessionBoundary):
    """The last DAM clock reading of each source."""

    def dam_clock(self, source: str) -> DamClockReading | None:
        """The last reading stored for ``source``, if any."""
        t = dam_clock_readings
        query = select(t.c.dam_time, t.c.monotonic, t.c.boot_id).where(t.c.source == source)
        with self._read("dam_clock") as session:
            row = session.execute(query).first()
        return None if row is None else DamClockReading(row[0], float(row[1]), row[2])

    def save_dam_clock(self, source: str, reading: DamClockReading) -> None:
        """Replace ``source``'s reading."""
        values = {
            "source": source,
            "dam_time": reading.dam_time,
            "monotonic": reading.monotonic,
            "boot_id": reading.boot_id,
            "read_at": self._clock(),
        }
        with self._write("save_dam_clock") as session:
            insert = upsert(session, dam_clock_readings).values(values)
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=["source"],
                    set_={k: v for k, v in values.items() if k != "source"},
                )
            )


__all__ = ["ClockReadingAccess", "DamClockReading"]
