"""CSV cells: the rules of the library's audit export (`deployledger.domain.insights.export`),
which the CLI's `-o csv` follows too, so every CSV writes booleans, seconds and a message
holding a NUL alike. Pure."""

from __future__ import annotations

from deployledger.domain.insights.export import csv_cell, escape_nul

__all__ = ["csv_cell", "escape_nul"]
