"""Numbers as exact, plain decimal text: what CSV and JSON carry (never `6.4e-05`). Pure."""

from __future__ import annotations

from decimal import Decimal


def plain_number(value: float) -> str:
    """A finite float as plain decimal text that reads back as the same float, never in
    exponent notation: `0.000064` (not `6.4e-05`), `4.0`, `10000000000000000.0`."""
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"
