"""Medians of runs, ratios against the same run's baselines, and the tables of the README."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.stores import NAMES

ROOT = Path(__file__).resolve().parent.parent
HEADER = "| backend | measurement | deployledger | baseline | ratio | target | met? |"
RULE = "|---|---|---:|---:|---:|---|---|"


@dataclass
class Result:
    """One row: per-run values of the library and of its baseline, measured in the same runs.

    `target` is "≤ X" or "≥ X" on the ratio of the medians, "< X unit" on the library's
    median itself, or "(info)". `fmt` formats a value ("{:,.0f} µs"); `base_fmt` the
    baseline's, if different. A row with `in_table=False` is only shown in the details."""

    backend: str
    measurement: str
    library: list[float]
    baseline: list[float]
    fmt: str
    target: str = "(info)"
    base_fmt: str = ""
    applies: bool = True  # False: the target is for 1M events, and this run was smaller
    in_table: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def library_median(self) -> float:
        return statistics.median(self.library) if self.library else math.nan

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline) if self.baseline else math.nan

    @property
    def absolute(self) -> bool:
        return self.target.startswith("<")

    @property
    def ratio(self) -> float:
        base = self.baseline_median
        return self.library_median / base if base else math.nan

    @property
    def met(self) -> str:
        if self.target == "(info)" or not self.applies:
            return "–" if self.applies else "n/a (< 1M events)"
        op, limit = self.target.split()[:2]
        value = self.library_median if self.absolute else self.ratio
        ok = {"≤": value <= float(limit), "≥": value >= float(limit), "<": value < float(limit)}
        return "yes" if ok[op] else "no"

    def cells(self) -> list[str]:
        ratio = "–" if self.absolute or math.isnan(self.ratio) else f"{self.ratio:.2f}"
        return [
            NAMES[self.backend],
            self.measurement,
            _show(self.fmt, self.library_median),
            _show(self.base_fmt or self.fmt, self.baseline_median),
            ratio,
            self.target,
            self.met,
        ]


def _show(fmt: str, value: float) -> str:
    return "–" if math.isnan(value) else fmt.format(value)


def table(results: list[Result]) -> str:
    """The README's table: medians, ratio of the medians, target, met?"""
    rows = ["| " + " | ".join(r.cells()) + " |" for r in results if r.in_table]
    return "\n".join([HEADER, RULE, *rows])


def details(results: list[Result]) -> list[str]:
    """Per-run values and ratios, and each row's notes."""
    lines = []
    for r in results:
        # A run can measure 0 (no request completed on a starved machine): no ratio then.
        ratios = [v / b if b else math.nan for v, b in zip(r.library, r.baseline, strict=True)]
        lines.append(f"{NAMES[r.backend]}: {r.measurement}")
        lines.append("  deployledger per run: " + ", ".join(_show(r.fmt, v) for v in r.library))
        lines.append(
            "  baseline per run: " + ", ".join(_show(r.base_fmt or r.fmt, v) for v in r.baseline)
        )
        if not r.absolute:
            lines.append("  per-run ratios: " + ", ".join(_show("{:.2f}", x) for x in ratios))
        lines += [f"  {note}" for note in r.notes]
        if not r.absolute and len(r.baseline) > 1 and max(r.baseline) > 1.5 * min(r.baseline):
            low = min(r.baseline)  # 0 when no request completed in a run
            spread = f"{max(r.baseline) / low:.1f}x" if low else "from 0"
            lines.append(
                f"  WARNING: the baseline varied {spread} across "
                "runs: the machine was noisy (other load, disk contention); the ratio is unreliable"
            )
    return lines


def load() -> str:
    """Load average and I/O pressure: the machine may be shared, and both skew the timings."""
    text = "{:.2f} {:.2f} {:.2f} (1/5/15 min)".format(*os.getloadavg())
    try:
        some = Path("/proc/pressure/io").read_text().split()[2]
        return f"{text}; I/O pressure {some.replace('avg60=', 'avg60 ')}%"
    except (OSError, IndexError):
        return text


def _proc(path: str, key: str) -> str:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return "?"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "?")


def revision() -> str:
    """The commit measured, plus a digest of uncommitted changes to the library if any."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return run.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD") or "?"
        changes = git("status", "--porcelain", "--", "deployledger")
        diff = git("diff", "HEAD", "--", "deployledger") if changes else ""
    except OSError:
        return "?"
    if not changes:
        return head
    return (
        f"{head} + uncommitted changes ({hashlib.sha1((changes + diff).encode()).hexdigest()[:8]})"
    )


def machine(postgres: str | None, tmpdir: str) -> list[str]:
    packages = ("deployledger", "eventsourcing", "sqlalchemy", "psycopg", "pydantic")
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in packages)
    return [
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"platform: {platform.platform()}",
        f"cpu: {os.cpu_count()} x {_proc('/proc/cpuinfo', 'model name')}",
        f"memory: {_proc('/proc/meminfo', 'MemTotal')}",
        f"load average at start: {load()}",
        f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {versions}",
        f"postgres: {postgres or 'not used'}",
        f"sqlite files in: {tmpdir}",
        f"deployledger at: {revision()}",
    ]


def markdown(title: str, command: str, results: list[Result], info: list[str]) -> str:
    machine = "\n".join(f"- {line}" for line in info)
    lines = "\n".join(details(results))
    return f"# {title}\n\n`{command}`\n\n{table(results)}\n\n## Machine and settings\n\n" + (
        f"{machine}\n\n## Details\n\n```\n{lines}\n```\n"
    )
