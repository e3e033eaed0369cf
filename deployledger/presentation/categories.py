"""A failure's category and fingerprint as the library computes them (one rule, not a copy):
for a fleet row's chip and a timeline entry's link to its group."""

from __future__ import annotations

from deployledger.domain.insights import failures as rules


def category_of(message: str | None) -> str:
    """The failure category of `message` under this release's rules (`unknown` if none)."""
    return rules.categorize(message)


def fingerprint_of(message: str | None) -> str:
    """The fingerprint that groups `message` with the same problem elsewhere."""
    return rules.fingerprint(message)
