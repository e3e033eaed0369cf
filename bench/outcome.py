"""What a measurement yields: per-run values for the library and its baseline."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field


@dataclass
class Result:
    backend: str
    measurement: str  # what is measured, with its unit
    unit: str  # "µs/op" or "reports/s"
    library: list[float | None]  # one value per run; None: the run failed (see failures)
    floor: list[float]  # one value per run, measured in the same runs
    target: float | None  # None: for information only
    higher_is_better: bool  # True for throughput (ratio >= target), False for latency
    library_label: str = "deployledger"
    floor_label: str = "floor"
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def library_ok(self) -> list[float]:
        return [v for v in self.library if v is not None]

    @property
    def library_median(self) -> float:
        ok = self.library_ok
        return statistics.median(ok) if ok else math.nan

    @property
    def floor_median(self) -> float:
        return statistics.median(self.floor) if self.floor else math.nan

    @property
    def ratio(self) -> float:
        return self.library_median / self.floor_median

    @property
    def met(self) -> bool:
        if self.failures or math.isnan(self.ratio):
            return False
        if self.target is None:
            return True
        if self.higher_is_better:
            return self.ratio >= self.target
        return self.ratio <= self.target

    @property
    def met_text(self) -> str:
        if self.target is None:
            return "n/a"
        return "yes" if self.met else "NO"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "(info)"
        return f"{'>=' if self.higher_is_better else '<='} {self.target:g}"

    @property
    def run_ratios(self) -> list[float | None]:
        return [
            None if lib is None else lib / flo
            for lib, flo in zip(self.library, self.floor, strict=False)
        ]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank on sorted values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]
