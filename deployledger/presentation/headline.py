"""The headline of a status message: the one line a table or a page shows for it.

Helm's stderr, above all with `--debug`, starts with noise (`history.go:56: [debug] getting
history…`) and ends with the cause (`Error: UPGRADE FAILED: …`). The upstream operator wraps
it as `helm {operation} failed with exit code {N}. stderr: {stderr}`. The rule:

- in the operator's wrapper, the headline is taken from the stderr by the rule below, with
  the operation and exit code beside it: `Error: UPGRADE FAILED: … (helm upgrade --install
  x, exit code 1)`; the wrapper's own line when the stderr says nothing but debug lines;
- else, in order:
  1. the last line starting with `Error:` (helm's own error line), with the `* …` items of
     a `N errors occurred:` list that directly follow it joined on (`…occurred: a; b`);
  2. else the first line that is not a helm debug line (`file.go:N: [debug] …`, or helm
     4's `level=DEBUG`);
  3. else the first non-blank line.

`headline` is pure: no escaping. `summary` makes it safe (see `display`) and cuts it to
width, for the CLI's tables and the dashboard's cells alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deployledger.presentation.display import clip

_BREAK = re.compile(r"\r\n|\n|\r")
_DEBUG = re.compile(r"^[\w./-]+\.go:\d+: \[debug\]|\blevel=DEBUG\b")
_OPERATOR = re.compile(
    r"^helm (?P<operation>\S.*?) failed with exit code (?P<code>-?\d+)\.?"
    r"(?:\s*stderr:\s*(?P<stderr>.*))?$"
)
_BULLET = re.compile(r"^\s*\* ")


@dataclass(frozen=True, slots=True)
class Headline:
    """A message's headline: `text` (helm's error line, or the most informative line), and
    for the operator's wrapper the helm `operation` (`repo add grafana`) and `exit_code`."""

    text: str
    operation: str | None = None
    exit_code: int | None = None

    def __str__(self) -> str:
        if self.operation is None:
            return self.text
        beside = f"helm {self.operation}, exit code {self.exit_code}"
        if self.text.startswith("helm "):  # the wrapper itself: nothing more to say
            return self.text
        return f"{self.text} ({beside})"


def is_debug(line: str) -> bool:
    """A helm `--debug` line: `history.go:56: [debug] …` (helm 3) or `level=DEBUG` (helm 4)."""
    return _DEBUG.search(line.strip()) is not None


def _plain(lines: list[str]) -> str:
    errors = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    if errors:
        last = errors[-1]
        bullets = []
        for line in lines[last + 1 :]:
            if not _BULLET.match(line):
                break
            bullets.append(_BULLET.sub("", line))
        return lines[last] + (" " + "; ".join(bullets) if bullets else "")
    content = [line for line in lines if line]
    if not content:
        return ""
    return next((line for line in content if not is_debug(line)), content[0])


def parse_headline(message: str | None) -> Headline:
    """The headline of `message` (see the module docstring); empty text for none."""
    if not message:
        return Headline("")
    lines = [line.strip() for line in _BREAK.split(message)]
    for index, line in enumerate(lines):
        match = _OPERATOR.match(line)
        if match is None:
            continue
        # The operator puts helm's first stderr line on the wrapper's line: judge it as one.
        inner = [match["stderr"] or "", *lines[index + 1 :]]
        text = _plain(inner)
        operation, code = match["operation"].strip(), int(match["code"])
        if not text or is_debug(text):
            text = f"helm {operation} failed with exit code {code}"
        return Headline(text, operation, code)
    return Headline(_plain(lines))


def headline(message: str | None) -> str:
    """The one line shown for `message`: `str(parse_headline(message))`; "" for none."""
    return str(parse_headline(message))


def summary(message: str | None, width: int = 100) -> str:
    """A message's headline, made safe to show and cut to `width`; ` …` marks that the
    message holds more than the headline."""
    if not message:
        return ""
    line = headline(message)
    shown, cut = clip(line, width)
    more = not cut and message.strip() != line
    return shown + (" …" if more else "")
