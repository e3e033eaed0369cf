"""Safe display: what never reaches a terminal or a page raw.

Controls (C0, DEL, C1), format characters (bidi overrides such as U+202E, zero-width U+200B,
...), line and paragraph separators and surrogates are shown as their visible Python escape
(`\\x1b`, `\\u202e`, `\\U000e0001`), so a message can neither drive a terminal nor reverse
what on-call reads. Newlines and tabs are kept where a block of text is shown, escaped in a
one-line cell. The dashboard applies `safe` to every value before HTML escaping, which stays
as it is. Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

KEEP = frozenset({"\n", "\t"})
NOTHING: frozenset[str] = frozenset()
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NOT_PLAIN = re.compile(r"[^\x20-\x7e]+")


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def replace_unsafe(text: str, escape: Callable[[str], str], keep: frozenset[str] = KEEP) -> str:
    """`text` with every unsafe character not in `keep` replaced by `escape(char)`."""

    def fix(match: re.Match[str]) -> str:
        run = match.group()
        if run.isprintable():  # most non-ASCII text: no character-by-character look
            return run
        return "".join(escape(c) if c not in keep and is_unsafe(c) else c for c in run)

    return _NOT_PLAIN.sub(fix, text)


def escape_char(char: str) -> str:
    """`\\x1b`, `\\u202e`, `\\U000e0001`: the Python escape of one character."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe(text: str, *, keep: frozenset[str] | set[str] = KEEP) -> str:
    """Escape control and format characters (ANSI sequences, NUL, bidi overrides, ...) so a
    message cannot drive or garble a terminal or a page; newlines and tabs are kept unless
    excluded."""
    return replace_unsafe(text, escape_char, frozenset(keep))


def one_line(text: str) -> str:
    """`safe`, newlines and tabs escaped too: for a table cell."""
    return safe(text, keep=NOTHING)


def clip(text: str, width: int) -> tuple[str, bool]:
    """`text` made safe on one line and cut to `width` characters (the last one an ellipsis
    when cut), never inside an escape; and whether it was cut."""
    # Every character shows as one character or more: width + 1 of them tell whether it fits.
    tokens = [
        escape_char(char) if char in KEEP or is_unsafe(char) else char for char in text[: width + 1]
    ]
    if len(text) <= width and sum(map(len, tokens)) <= width:
        return "".join(tokens), False
    shown: list[str] = []
    used = 0
    for token in tokens:
        if used + len(token) > width - 1:
            break
        shown.append(token)
        used += len(token)
    return "".join(shown) + "…", True
