"""The headline of a status message: the one line a table shows for it.

Helm's stderr, above all with `--debug`, starts with noise (`history.go:56: [debug] getting
history…`) and ends with the cause (`Error: UPGRADE FAILED: …`). The upstream operator wraps
it as `helm {operation} failed with exit code {N}. stderr: {stderr}`. The rule, in order:

1. the last line starting with `Error:` (helm's own error line), with the `* …` items of a
   `N errors occurred:` list that directly follow it joined on (`…occurred: a; b`);
2. else the operator's `helm … failed with exit code N` line (with its stderr, unless that is a
   debug line);
3. else the first line that is not a helm debug line (`file.go:N: [debug] …`, or helm 4's
   `level=DEBUG`);
4. else the first non-blank line.

Pure: no I/O, no escaping. `render` escapes the result for the terminal and cuts it to width.
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"\r\n|\n|\r")
_DEBUG = re.compile(r"^[\w./-]+\.go:\d+: \[debug\]|\blevel=DEBUG\b")
_OPERATOR = re.compile(
    r"^(?P<head>helm \S.*? failed with exit code -?\d+)\.?(?:\s*stderr:\s*(?P<stderr>.*))?$"
)
_BULLET = re.compile(r"^\s*\* ")


def is_debug(line: str) -> bool:
    """A helm `--debug` line: `history.go:56: [debug] …` (helm 3) or `level=DEBUG` (helm 4)."""
    return _DEBUG.search(line.strip()) is not None


def headline(message: str | None) -> str:
    """The most informative line of `message` (see the module docstring); "" for none."""
    if not message:
        return ""
    lines = [line.strip() for line in _BREAK.split(message)]
    operator = None
    for index, line in enumerate(lines):
        match = _OPERATOR.match(line)
        if match:
            # The operator puts helm's first stderr line on its own line: judge it as one.
            operator = (match["head"], match["stderr"] or "", line)
            lines[index : index + 1] = [match["head"], match["stderr"] or ""]
            break
    errors = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    if errors:
        last = errors[-1]
        bullets = []
        for line in lines[last + 1 :]:
            if not _BULLET.match(line):
                break
            bullets.append(_BULLET.sub("", line))
        return lines[last] + (" " + "; ".join(bullets) if bullets else "")
    if operator is not None:
        head, stderr, whole = operator
        return whole if stderr and not is_debug(stderr) else head
    content = [line for line in lines if line]
    if not content:
        return ""
    return next((line for line in content if not is_debug(line)), content[0])
