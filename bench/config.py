"""Sizes and targets of one benchmark run."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

# Targets from issue 2, as ratios. Not to be loosened.
RECORD_FLOOR_TARGET = 1.5  # record() at most 1.5x the single-row INSERT+COMMIT floor
HISTORY_TARGET = 1.2  # record() on 10,000 prior attempts at most 1.2x on 10
MANY_TARGET = 0.5  # record_many() at least half the executemany floor's throughput


def default_postgres_dsn() -> str:
    return os.environ.get(
        "DEPLOYLEDGER_BENCH_POSTGRES",
        os.environ.get("DEPLOYLEDGER_TEST_POSTGRES", DEFAULT_POSTGRES),
    )


@dataclass(frozen=True)
class Config:
    runs: int = 5  # runs of measurements 1 and 2
    many_runs: int = 3  # runs of measurement 3 (slow)
    ops: int = 300  # sequential record() calls timed per run
    warmup: int = 20  # untimed calls before each timed series
    small_prior: int = 10  # prior attempts of the "small" workload
    large_prior: int = 10_000  # prior attempts of the "long history" workload
    prefill_chunk: int = 1_000  # record_many() chunk size for the prefill
    cold_samples: int = 10  # fresh ledgers per workload per run (cold measurement)
    many: int = 100_000  # reports in one record_many() call
    per_workload: int = 100  # reports per workload in the record_many() batch
    many_chunk: int = 2_000  # reports per call in the chunked record_many() variant
    quick: bool = False

    @classmethod
    def quick_config(cls) -> Config:
        return cls(
            runs=3,
            many_runs=2,
            ops=60,
            warmup=10,
            large_prior=2_000,
            cold_samples=3,
            many=10_000,
            quick=True,
        )
