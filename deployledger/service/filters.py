"""The text arguments of the read calls (tenant, pool, workload ids, grep): checked before
they reach a store, so that both backends answer the same `InvalidQuery`.

PostgreSQL cannot hold NUL in text and neither store can encode a lone surrogate; no stored
report holds either in its ids and names, so such a filter can only be a mistake. (`grep`
may hold NUL: status messages can, and the search finds them.)
"""

from __future__ import annotations

from deployledger.errors import InvalidQuery


def checked(name: str, value: object, *, nul: bool = False) -> None:
    """Raise `InvalidQuery` unless `value` is None or a text both stores can compare.
    `nul` allows NUL: `grep` searches messages, which may hold it."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidQuery(f"{name} must be text, got {type(value).__name__}")
    if not nul and "\x00" in value:
        raise InvalidQuery(f"{name} must not contain NUL (\\x00)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQuery(f"{name} is not valid Unicode text (a lone surrogate)") from None


def check_all(**values: object) -> None:
    for name, value in values.items():
        checked(name, value, nul=name == "grep")
