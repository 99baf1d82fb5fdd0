"""
Run-time behaviour of the PIM simulator: latency, fair use, seeded faults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PimSimOptions:
    """Run-time behaviour of the simulator (all changeable through ``PUT /_sim/options``)."""

    latency: float = 0.0
    token_ttl: int = 3600
    refresh_ttl: int = 1209600
    max_in_flight_per_token: int = 4
    retry_after: int = 1
    fault_rate: float = 0.0
    fault_statuses: tuple[int, ...] = (500, 503, 429)
    drop_rate: float = 0.0
    rng_seed: int = 0
    base_url: str = "http://localhost"

    def __post_init__(self) -> None:
        for name in ("latency", "fault_rate", "drop_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.fault_rate + self.drop_rate > 1:
            raise ValueError("fault_rate + drop_rate must not exceed 1")
        for name in (
            "token_ttl",
            "refresh_ttl",
            "max_in_flight_per_token",
            "retry_after",
            "rng_seed",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not all(isinstance(s, int) and 400 <= s <= 599 for s in self.fault_statuses):
            raise ValueError("fault_statuses must be HTTP error statuses (400-599)")


__all__ = ["PimSimOptions"]
