"""Machine information and the results tables (plain text for stdout, markdown for a file)."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.outcome import Result

COLUMNS = ("backend", "measurement", "deployledger", "floor", "ratio", "target", "met?")
LEGEND = (
    "For the history rows, 'deployledger' is record() on the workload with the long "
    "history and 'floor' is record() on the workload with 10 prior attempts, both through "
    "deployledger. Values are medians over runs; ratio = median / median."
)


def machine_info(postgres: dict[str, str] | None, tmp_root: str | None) -> dict[str, str]:
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpu": f"{os.cpu_count()} x {_cpu_model()}",
        "memory": _memory(),
        "load average at start": _load(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(
            f"{name} {_version(name)}"
            for name in ("deployledger", "eventsourcing", "psycopg", "pydantic")
        ),
        "deployledger commit": _git_commit(),
    }
    if postgres is not None:
        info["postgres"] = (
            f"{postgres.get('server_version', '?')} (fsync={postgres.get('fsync', '?')}, "
            f"synchronous_commit={postgres.get('synchronous_commit', '?')}, "
            f"wal_sync_method={postgres.get('wal_sync_method', '?')})"
        )
    tmp = tmp_root or _default_tmp()
    info["sqlite files in"] = f"{tmp} ({_filesystem(tmp)})"
    return info


def _load() -> str:
    """Load average and I/O pressure: the machine may be shared, and both skew the timings."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    text = f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"
    try:
        some = Path("/proc/pressure/io").read_text().splitlines()[0].split()
        text += f"; I/O pressure {some[2].replace('avg60=', 'avg60 ')}%"
    except (OSError, IndexError):
        pass
    return text


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError):
        pass
    return "?"


def _default_tmp() -> str:
    import tempfile

    return tempfile.gettempdir()


def _filesystem(path: str) -> str:
    try:
        target = os.path.realpath(path)
        best = ("", "?", "?")
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype, *_ = line.split()
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[0]):
                best = (mount, fstype, device)
        return f"{best[1]} on {best[2]}"
    except (OSError, ValueError):
        return "?"


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "deployledger"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return head + (" (library has uncommitted changes)" if dirty else "")


def _value(result: Result, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "FAILED"
    if result.unit == "reports/s":
        return f"{value:,.0f}/s"
    return f"{value:,.0f} µs" if value >= 100 else f"{value:,.1f} µs"


def rows(results: list[Result]) -> list[tuple[str, ...]]:
    return [
        (
            r.backend,
            r.measurement,
            _value(r, r.library_median),
            _value(r, r.floor_median),
            "-" if math.isnan(r.ratio) else f"{r.ratio:.2f}",
            r.target_text,
            r.met_text,
        )
        for r in results
    ]


def text_table(results: list[Result]) -> str:
    body = rows(results)
    widths = [max(len(c[i]) for c in [COLUMNS, *body]) for i in range(len(COLUMNS))]
    right = {2, 3, 4}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(COLUMNS), rule, *(line(r) for r in body)])


def markdown_table(results: list[Result]) -> str:
    out = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * 3 + ["---"] * 2) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows(results)]
    return "\n".join(out)


def details(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        runs_lib = ", ".join(_value(r, v) for v in r.library)
        runs_floor = ", ".join(_value(r, v) for v in r.floor)
        ratios = ", ".join("-" if x is None else f"{x:.2f}" for x in r.run_ratios)
        lines.append(f"{r.backend} / {r.measurement}")
        lines.append(f"  {r.library_label} per run: {runs_lib}")
        lines.append(f"  {r.floor_label} per run: {runs_floor}")
        lines.append(f"  per-run ratios: {ratios}")
        lines += [f"  {note}" for note in r.notes]
        spread = max(r.floor) / min(r.floor) if r.floor and min(r.floor) > 0 else 1.0
        if spread > 1.5:
            lines.append(
                f"  WARNING: the {r.floor_label} value varied {spread:.1f}x across runs: the "
                "machine was noisy (other load, disk contention); the ratio is unreliable"
            )
        lines += [f"  FAILED {failure}" for failure in r.failures]
    return lines


def info_lines(info: dict[str, Any]) -> list[str]:
    return [f"{key}: {value}" for key, value in info.items()]


def markdown(
    results: list[Result], info: dict[str, Any], settings: dict[str, Any], command: str
) -> str:
    parts = [
        "# deployledger benchmark",
        "",
        f"`{command}`",
        "",
        markdown_table(results),
        "",
        LEGEND,
        "",
        "## Machine",
        "",
        *(f"- {line}" for line in info_lines(info)),
        "",
        "## Settings",
        "",
        *(f"- {line}" for line in info_lines(settings)),
        "",
        "## Details",
        "",
        "```",
        *details(results),
        "```",
        "",
    ]
    return "\n".join(parts)
