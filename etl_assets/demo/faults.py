"""Fault injection for the demo Sales API: which faults exist and how often they happen."""

from __future__ import annotations

from dataclasses import dataclass

FAULT_KINDS = ("429", "500", "502", "503", "504", "drop", "slow")


@dataclass(frozen=True)
class FaultConfig:
    """With probability ``rate`` a request to /orders fails with one of ``kinds``, drawn at random.

    "429" and "503" answer JSON with ``Retry-After`` (whole seconds, rounded up); "500", "502"
    and "504" answer an HTML page, as a proxy would; "drop" closes the connection without an
    answer; "slow" answers normally after ``slow_seconds``. Faults come before authentication.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ("429", "500", "503", "drop", "slow")
    retry_after_seconds: float = 1
    slow_seconds: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate}")
        if not self.kinds or set(self.kinds) - set(FAULT_KINDS):
            raise ValueError(f"fault kinds must come from {FAULT_KINDS}, got {self.kinds}")
        if self.retry_after_seconds < 0 or self.slow_seconds < 0:
            raise ValueError("retry_after_seconds and slow_seconds must be >= 0")
