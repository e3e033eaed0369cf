"""The `deployledger` command: an entry point over the public API only.

Each module adds its commands to the group in `app`; importing them here registers them.
"""

from deployledger.cli import (
    audit,
    failures,
    log,
    maintenance,
    overdue,
    record,
    serve,
    sinks,
    stats,
    tokens,
    workloads,
)
from deployledger.cli.app import cli, main

__all__ = [
    "audit",
    "cli",
    "failures",
    "log",
    "main",
    "maintenance",
    "overdue",
    "record",
    "serve",
    "sinks",
    "stats",
    "tokens",
    "workloads",
]
